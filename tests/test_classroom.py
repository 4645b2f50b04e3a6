"""A class on one server: sign-in, names, caps, who may change what, the fair queue, the board."""

from __future__ import annotations

import sqlite3

import pytest

from nnkit.classroom.access import NotAllowed, OwnedManager, OwnedStore
from nnkit.classroom.leaderboard import best_runs
from nnkit.classroom.people import SOLO, Caps, ClassRoom, SignInError, Throttle, clean_name
from nnkit.config import RunConfig
from nnkit.training import sweep

SHORT = RunConfig(dataset="moons", model="mlp-64-64", epochs=1, toy_size=200)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def room(tmp_path):
    return ClassRoom(tmp_path / "class.sqlite", "abc234", "TEACH-ER99",
                     Throttle(free=3, first=2.0, most=60.0, clock=Clock()))


@pytest.fixture
def people(room):
    """A teacher and two students, signed in."""
    teacher, _ = room.sign_in("teacher99", "Ms Ada")
    a, _ = room.sign_in("ABC234", "Alan")
    b, _ = room.sign_in(" abc 234 ", "Grace")
    return teacher, a, b


def views(person, store, mgr, room, everyone=False):
    return (OwnedManager(person, store, mgr, caps=room.caps, names=room.names),
            OwnedStore(person, store, mgr, names=room.names, everyone=everyone))


def test_the_codes_say_who_is_a_student_and_who_teaches(people):
    teacher, a, b = people
    assert (teacher.role, a.role, b.role) == ("teacher", "student", "student")
    assert teacher.teaches and not a.teaches and SOLO.teaches
    assert len({teacher.id, a.id, b.id}) == 3


def test_a_token_finds_its_person_again_after_a_restart_and_sign_out_forgets_it(room, tmp_path):
    who, token = room.sign_in("abc234", "Alan")
    again = ClassRoom(tmp_path / "class.sqlite", "abc234", "TEACH-ER99")  # the server restarted
    assert again.person(token) == who
    assert again.person("made-up") is None and again.person(None) is None
    raw = sqlite3.connect(tmp_path / "class.sqlite").execute("SELECT * FROM people").fetchall()
    assert token not in repr(raw)  # only its hash is kept
    again.sign_out(token)
    assert again.person(token) is None
    assert [p.name for p in again.people()] == ["Alan"]  # the person (and runs) stay


def test_wrong_codes_are_refused_and_then_slowed_down_even_for_the_right_code(room):
    clock = room.throttle.clock
    for _ in range(3):  # three wrong tries cost nothing
        with pytest.raises(SignInError, match="not this class's code"):
            room.sign_in("WRONG1", "Eve", key="10.0.0.9")
    with pytest.raises(SignInError, match=r"try again in 2 s"):
        room.sign_in("abc234", "Eve", key="10.0.0.9")  # refused without being checked
    room.sign_in("abc234", "Bob", key="10.0.0.10")  # another address is not slowed
    clock.now += 2.1
    with pytest.raises(SignInError, match="not this class's code"):
        room.sign_in("WRONG1", "Eve", key="10.0.0.9")
    with pytest.raises(SignInError, match=r"try again in 4 s"):  # twice as long now
        room.sign_in("abc234", "Eve", key="10.0.0.9")
    clock.now += 4.1
    assert room.sign_in("abc234", "Eve", key="10.0.0.9")[0].name == "Eve"
    assert room.throttle.wait("10.0.0.9") == 0  # a right code resets the count


def test_display_names_are_plain_bounded_and_unique(room):
    assert clean_name("  Ada\u0000 \u202eLove\nlace  ") == "Ada Lovelace"
    assert clean_name("**bold** <b>x</b>") == "**bold** <b>x</b>"  # kept; shown as plain text
    with pytest.raises(SignInError, match="at most 32"):
        clean_name("x" * 33)
    with pytest.raises(SignInError, match="Enter a name"):
        room.sign_in("abc234", " \t ")
    room.sign_in("abc234", "Alan")
    with pytest.raises(SignInError, match="already goes by 'ALAN'"):
        room.sign_in("abc234", "ALAN")


def test_the_teacher_sets_caps_within_their_ranges(people, room):
    teacher, a, _ = people
    assert room.caps() == Caps()
    with pytest.raises(PermissionError):
        room.set_caps(a, Caps(queued=50))
    with pytest.raises(ValueError, match="epochs must be between 1 and 200"):
        room.set_caps(teacher, Caps(epochs=0))
    room.set_caps(teacher, Caps(queued=1, epochs=2, train_images=1000))
    assert room.caps() == Caps(1, 2, 1000)


def test_caps_refuse_with_a_message_and_the_teacher_is_not_capped(people, room, store, mgr):
    teacher, a, _ = people
    room.set_caps(teacher, Caps(queued=1, epochs=2, train_images=1000))
    ma, _ = views(a, store, mgr, room)
    with pytest.raises(NotAllowed, match="at most 2 epoch"):
        ma.submit(RunConfig(dataset="moons", epochs=3, toy_size=200))
    with pytest.raises(NotAllowed, match="at most 1,000 training images"):
        ma.submit(RunConfig(dataset="mnist", epochs=1))
    assert ma.refusal([RunConfig(dataset="mnist", epochs=1, train_subset=1000)]) is None
    run_id = ma.submit(SHORT)
    with pytest.raises(NotAllowed, match="1 job.* waiting or training; the class allows 1"):
        ma.submit(SHORT)
    mt, _ = views(teacher, store, mgr, room)
    assert mt.refusal([RunConfig(dataset="mnist", epochs=50)] * 3, jobs=9) is None
    assert mgr.wait(run_id, 120)
    assert ma.refusal([SHORT]) is None  # it ended: room for the next


def test_only_the_owner_or_the_teacher_changes_a_run(people, room, store, mgr):
    teacher, a, b = people
    ma, sa = views(a, store, mgr, room)
    mb, sb = views(b, store, mgr, room)
    mt, st_ = views(teacher, store, mgr, room)
    mgr.pause(mgr.submit(SHORT))  # hold the queue: A's runs wait behind it
    first, second = ma.submit(SHORT), ma.submit(SHORT)
    assert store.get(first).owner == a.id
    for action in (lambda: mb.pause(first), lambda: mb.resume(first), lambda: mb.stop(first),
                   lambda: mb.delete(first), lambda: sb.rename(first, "mine now"),
                   lambda: mb.stop_job(mgr.job_of(first))):
        with pytest.raises(NotAllowed, match="belongs to Alan: only they or the teacher"):
            action()
    assert store.get(first).name != "mine now" and mgr.live(first).status == "queued"
    sa.rename(first, "Alan's first")
    st_.rename(second, "renamed by the teacher")
    mt.stop(second)
    assert store.get(second).status == "stopped"
    assert "teacher (Ms Ada)" in store.get(second).message
    ma.stop(first)
    mt.delete(first)
    assert store.get(first) is None
    with pytest.raises(AttributeError, match="not open to pages"):
        sb.update  # noqa: B018 - writing to the store directly is closed to pages
    with pytest.raises(AttributeError, match="not open to pages"):
        mb.shutdown  # noqa: B018 - the queue's shutdown is closed to pages too


def test_a_classmate_cannot_stop_or_delete_a_sweep_through_its_members(people, room, store,
                                                                      mgr):
    _, a, b = people
    ma, _ = views(a, store, mgr, room)
    mb, _ = views(b, store, mgr, room)
    mgr.pause(mgr.submit(SHORT))
    job_id = ma.submit_sweep(sweep.SweepSpec(SHORT, "lr", [0.01, 0.1], 1))
    member = store.get_job(job_id).runs[0]
    assert store.get_job(job_id).owner == a.id
    for action in (lambda: mb.stop(member), lambda: mb.stop_job(job_id),
                   lambda: mb.delete(member)):
        with pytest.raises(NotAllowed):
            action()
    assert mgr.job(job_id).status == "queued"
    ma.stop_job(job_id)
    assert mgr.job(job_id).status == "stopped"


def test_students_list_their_own_runs_unless_they_ask_for_everyones(people, room, store, mgr):
    teacher, a, b = people
    ra = store.create_run(SHORT, "a's", owner=a.id)
    rb = store.create_run(SHORT, "b's", owner=b.id)
    _, sa = views(a, store, mgr, room)
    _, sa_all = views(a, store, mgr, room, everyone=True)
    _, st_ = views(teacher, store, mgr, room)
    assert [r.id for r in sa.list()] == [ra]
    assert {r.id for r in sa_all.list()} == {ra, rb} == {r.id for r in st_.list()}
    assert sa.get(rb).name == "b's"  # readable, never changeable


def test_the_queue_takes_people_in_turn(people, room, store, mgr):
    _, a, b = people
    ma, _ = views(a, store, mgr, room)
    mb, _ = views(b, store, mgr, room)
    room.set_caps(people[0], Caps(queued=10))
    hold = mgr.submit(SHORT)
    mgr.pause(hold)
    a_runs = [ma.submit(SHORT) for _ in range(5)]
    b_run = mb.submit(SHORT)
    assert mgr.queue_position(b_run) == 2 and mgr.queue_position(a_runs[1]) == 3
    assert mgr.starts_in(b_run) > mgr.starts_in(a_runs[0]) > 0
    mgr.resume(hold)
    for run_id in (hold, *a_runs, b_run):
        assert mgr.wait(run_id, 180)
    started = sorted([*a_runs, b_run], key=lambda r: mgr.live(r).started)
    assert started[1] == b_run  # A's first, then B's, then the rest of A's
    assert all(store.get(r).status == "finished" for r in started)


def test_the_leaderboard_ranks_each_persons_best_run_per_dataset(people, room, store):
    teacher, a, b = people
    runs = {}
    for who, acc, dataset in ((a, 0.95, "mnist"), (a, 0.97, "mnist"), (b, 0.99, "mnist"),
                              (teacher, 0.97, "mnist"), (b, 0.8, "moons"), (None, 1.0, "mnist")):
        run_id = store.create_run(RunConfig(dataset=dataset), owner=who.id if who else "")
        store.update(run_id, best_test_accuracy=acc, final_test_accuracy=acc - 0.01)
        runs.setdefault(who.name if who else "nobody", []).append(run_id)
    boards = best_runs(store.list(), room.names())
    assert list(boards) == ["mnist", "moons"]
    mnist = boards["mnist"]
    assert [(e.rank, e.name, e.accuracy) for e in mnist] == [
        (1, "Grace", 0.99), (2, "Alan", 0.97), (2, "Ms Ada", 0.97)]  # a tie shares its rank
    assert mnist[1].run_id == runs["Alan"][1]  # Alan's better run, not his first
    assert mnist[0].settings.startswith(f"{RunConfig().optimizer} lr {RunConfig().lr:g}")
    assert [e.name for e in boards["moons"]] == ["Grace"]
