"""Planning and operations intelligence: deterministic, explainable analyses over the core's data.

Each analysis is one module of pure functions with its parameters in the planning file
(`core/planning/default_planning.yaml`, or `ERP_PLANNING_FILE`). What an analysis finds becomes a
case in the exception queue (`core.exceptions.findings.sync_findings`), with its evidence and, where
a person can act, a proposed draft that goes through the same gate as every other write.
"""
