"""Behaviour on a test set: two models, the same inputs, what changed in their answers.

The diff engine calls :func:`run_behaviour` with a :class:`TestSet` (:func:`load_testset`),
two :class:`Predictor` s — inference endpoints (:func:`endpoint`) or local ``transformers``
pipelines (:class:`TransformersRunner`) — and the :class:`Task` (:func:`task_for`). The
:class:`BehaviourReport` it returns gives the JSON member (``to_json``), the ``--fail-on``
numbers (``metrics``) and, through :func:`render_table` and :func:`render_markdown`, the
seed's table.
"""

from __future__ import annotations

from hubsnap.diff.behaviour.endpoints import endpoint
from hubsnap.diff.behaviour.model import Label, Prediction, Predictor, Span, Task, task_for
from hubsnap.diff.behaviour.render import render_markdown, render_table
from hubsnap.diff.behaviour.report import METRICS, BehaviourReport, Row, run_behaviour
from hubsnap.diff.behaviour.runner import TransformersRunner
from hubsnap.diff.behaviour.testset import TestCase, TestSet, load_testset, parse_testset

__all__ = [
    "METRICS",
    "BehaviourReport",
    "Label",
    "Prediction",
    "Predictor",
    "Row",
    "Span",
    "Task",
    "TestCase",
    "TestSet",
    "TransformersRunner",
    "endpoint",
    "load_testset",
    "parse_testset",
    "render_markdown",
    "render_table",
    "run_behaviour",
    "task_for",
]
