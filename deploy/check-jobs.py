#!/usr/bin/env python3
"""Checks a Toolforge jobs file with the jobs framework's own code.

    python3 deploy/check-jobs.py deploy/jobs.yaml [deploy/jobs-prebuilt.yaml ...]

Needs the jobs framework's command line from PyPI, pinned (it is the code
`toolforge jobs load` runs; the functions below are its internals):

    python3 -m venv /tmp/jobs-venv
    /tmp/jobs-venv/bin/pip install toolforge-jobs-cli==16.2.3
    /tmp/jobs-venv/bin/python deploy/check-jobs.py deploy/jobs.yaml

Each job is turned into the `toolforge jobs run` arguments exactly as
`toolforge jobs load` does (jobs_cli.cli.op_load), parsed by the CLI's own
argument parser (an unknown key, a bad value or two exclusive keys fail
there), then made into the API payload (get_api_payload: e.g. a health check
on a scheduled job fails). The schedule, which only the Toolforge server
checks, is checked here against the same rules (jobs-api tjf/core/cron.py):
an @-macro it knows, or five cron fields. Nothing is sent anywhere.
Exit 0 when every job passes; else one line per problem and exit 1.
"""

import contextlib
import copy
import io
import re
import sys

import yaml
from jobs_cli.cli import _job_to_arg_parser_args, arg_parser, get_api_payload

MACROS = {"@hourly", "@daily", "@weekly", "@monthly", "@yearly"}
CRON_FIELD = re.compile(r"^(\*|[0-9a-z]+(-[0-9a-z]+)?)(/[0-9]+)?(,(\*|[0-9a-z]+(-[0-9a-z]+)?)(/[0-9]+)?)*$")


def check_schedule(schedule):
    if schedule.startswith("@"):
        return None if schedule in MACROS else f"unknown schedule macro {schedule!r} (known: {sorted(MACROS)})"
    fields = schedule.split()
    if len(fields) != 5 or not all(CRON_FIELD.match(f) for f in fields):
        return f"schedule {schedule!r} is neither an @-macro nor five cron fields"
    return None


def check_file(path):
    problems = []
    with open(path, encoding="utf-8") as f:
        jobs = yaml.safe_load(f)
    if not isinstance(jobs, list) or not jobs:
        return [f"{path}: not a YAML list of jobs"]
    names = [job.get("name") for job in jobs if isinstance(job, dict)]
    if len(set(names)) != len(names):
        problems.append(f"{path}: a job name is used twice: {names}")
    for job in jobs:
        name = job.get("name", "?") if isinstance(job, dict) else "?"
        if not isinstance(job, dict):
            problems.append(f"{path}: a job that is not a mapping: {job!r}")
            continue
        argv = ["run", *_job_to_arg_parser_args(job=copy.deepcopy(job))]
        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err):
                args = arg_parser(argv)
        except SystemExit:
            last = err.getvalue().strip().splitlines()[-1:] or ["rejected"]
            problems.append(f"{path}: job {name}: {last[0]}")
            continue
        try:
            get_api_payload(args)
        except Exception as e:  # the CLI's ToolforgeUserError and friends
            problems.append(f"{path}: job {name}: {e}")
            continue
        if "schedule" in job:
            why = check_schedule(str(job["schedule"]))
            if why:
                problems.append(f"{path}: job {name}: {why}")
    return problems


def main(paths):
    if not paths:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    problems = [p for path in paths for p in check_file(path)]
    for p in problems:
        print(p)
    if not problems:
        print(f"ok: {', '.join(paths)}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
