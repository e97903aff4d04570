"""Planning: the dependency graph of every deployable unit, and changed files -> jobs."""

from hubfleet.plan.changes import Change, parse_changed_files
from hubfleet.plan.graph import Graph, build_graph
from hubfleet.plan.job import Job
from hubfleet.plan.labels import Labels, parse_labels
from hubfleet.plan.plan import Plan
from hubfleet.plan.planner import History, make_plan

__all__ = [
    "Change",
    "Graph",
    "History",
    "Job",
    "Labels",
    "Plan",
    "build_graph",
    "make_plan",
    "parse_changed_files",
    "parse_labels",
]
