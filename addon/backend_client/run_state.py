"""The add-on's one run-state machine (no bpy): its states, its transitions, and what a modal event does.

A backend process's outcome, an import job and the modal import operator all speak it:
IDLE -> RUNNING -> (CANCELLING ->) SUCCEEDED | FAILED | CANCELLED. An import job is READY when
its run SUCCEEDED and its motion file passed the contract check (READY is the same state).
"""

from __future__ import annotations

import enum


class RunState(str, enum.Enum):
    IDLE = "IDLE"
    RUNNING = "RUNNING"
    CANCELLING = "CANCELLING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    READY = "SUCCEEDED"  # an alias: the job's name for a run that succeeded with a good motion file


TERMINAL: frozenset[RunState] = frozenset({RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED})

#: state -> the states it may move to. A start that fails, or a cancel before the start, ends at once.
TRANSITIONS: dict[RunState, frozenset[RunState]] = {
    RunState.IDLE: frozenset({RunState.RUNNING, RunState.FAILED, RunState.CANCELLED}),
    RunState.RUNNING: frozenset({RunState.CANCELLING, *TERMINAL}),
    RunState.CANCELLING: TERMINAL,  # the child may still finish, or fail, before the signal lands
    RunState.SUCCEEDED: frozenset(),
    RunState.FAILED: frozenset(),
    RunState.CANCELLED: frozenset(),
}


class InvalidTransition(RuntimeError):
    """A state change the machine does not allow: a bug in the caller, never the user's doing."""


def advance(current: RunState, new: RunState) -> RunState:
    """`new` if the machine allows current -> new, else InvalidTransition naming both."""
    if new not in TRANSITIONS[current]:
        raise InvalidTransition(f"run state {current.name} cannot become {new.name}")
    return new


class ModalStep(str, enum.Enum):
    """What one modal event asks the import operator to do (`operators.modal_step`)."""

    IDLE = "IDLE"  # nothing changed: pass the event through
    PROGRESS = "PROGRESS"  # the progress moved: redraw
    CANCELLING = "CANCELLING"  # Esc: the job was asked to stop
    FINISH = "FINISH"  # the job ended: import or report, then end the operator
