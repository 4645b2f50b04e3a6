"""Class mode through the real pages (AppTest): the gate, a classmate's run readable and not
changeable, the teacher's rights. (AppTest refuses to press a disabled button, as a browser
does; the server's own checks behind the buttons are tested in test_classroom.py.)"""

from __future__ import annotations

import pytest
from apptest import button, open_page, texts

from nnkit.classroom.people import ClassRoom
from nnkit.config import RunConfig
from nnkit.runs import RunStore

CODE, TEACHER = "KLAS42", "TEACHER7788"
SHORT = RunConfig(dataset="moons", model="mlp-64-64", epochs=1, toy_size=200)


@pytest.fixture
def room(monkeypatch, nnkit_home):
    monkeypatch.setenv("NNKIT_CLASS", "1")
    monkeypatch.setenv("NNKIT_CLASS_CODE", CODE)
    monkeypatch.setenv("NNKIT_TEACHER_CODE", TEACHER)
    return ClassRoom(RunStore().path.parent / "class.sqlite", CODE, TEACHER)


def sign_in(at, code: str, name: str):
    at.text_input(key="signin_code").input(code)
    at.text_input(key="signin_name").input(name)
    return at.button[0].click().run()


def test_nothing_shows_before_the_code_and_a_wrong_code_is_refused(room):
    at = open_page("runs")
    assert not at.exception
    assert [t.label for t in at.text_input] == ["Class code", "Your name"]
    assert not at.dataframe and not at.button[1:]  # the form's button only: no run, no action
    at = sign_in(at, "nope", "Alan")
    assert "not this class's code" in texts(at)
    at = sign_in(at, CODE, "Alan")
    assert not at.exception and "Runs" in [t.value for t in at.title]


def test_a_student_reads_a_classmates_run_but_is_offered_no_change(room):
    alan, _ = room.sign_in(CODE, "Alan")
    store = RunStore()
    theirs = store.create_run(SHORT, "Alan's run", status="finished", owner=alan.id)
    at = sign_in(open_page("runs", query={"run": theirs}), CODE, "Grace")
    assert "No runs yet" in texts(at)  # her own runs by default
    at.session_state["everyone"] = True  # the sidebar's "Classmates' runs too" (in app.py)
    at.run()
    at.selectbox(key="runs_pick").set_value(theirs).run()
    assert "This run is Alan's: you can read it, not change it." in texts(at)
    assert button(at, "Delete").disabled and button(at, "Rename").disabled
    rec = store.get(theirs)
    assert rec is not None and rec.name == "Alan's run"


def test_the_teacher_can_delete_any_run(room):
    alan, _ = room.sign_in(CODE, "Alan")
    store = RunStore()
    theirs = store.create_run(SHORT, "Alan's run", status="finished", owner=alan.id)
    at = sign_in(open_page("runs", query={"run": theirs}), TEACHER, "Ms Ada")
    assert "This run is" not in texts(at)
    at.checkbox(key=f"confirm_delete_{theirs}").check().run()
    button(at, "Delete").click().run()
    assert not at.exception and store.get(theirs) is None


def test_alone_nothing_asks_who_you_are(nnkit_home):
    at = open_page("runs")
    assert not at.exception and "Runs" in [t.value for t in at.title]
    assert not [t for t in at.text_input if t.label == "Class code"]
