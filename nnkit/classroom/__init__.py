"""A class on one server: who is signed in (people.py), what each person may change and start
(access.py), and who trained the best network (leaderboard.py). Torch-free: pages import it.

Alone (the default, on 127.0.0.1) there is one person, SOLO, who may do everything; nothing
here asks for a name or a code.
"""
