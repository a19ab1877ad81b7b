"""Checks a GitHub Actions workflow that cannot run here: it parses as YAML, every job
has `runs-on` and steps, every `needs` names a job that exists, and every action used
is pinned to a version. Prints `workflow: N passed, 0 failed` or exits non-zero."""

import sys

import yaml


def main(path: str) -> int:
    with open(path, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    problems = []
    # YAML reads the key `on` as True.
    if not (doc.get("on") or doc.get(True)):
        problems.append("no trigger ('on')")
    jobs = doc.get("jobs") or {}
    if not jobs:
        problems.append("no jobs")
    for name, job in jobs.items():
        if "runs-on" not in job:
            problems.append(f"job '{name}' has no runs-on")
        needs = job.get("needs", [])
        for need in [needs] if isinstance(needs, str) else needs:
            if need not in jobs:
                problems.append(f"job '{name}' needs '{need}', which is not a job")
        steps = job.get("steps") or []
        if not steps:
            problems.append(f"job '{name}' has no steps")
        for i, step in enumerate(steps):
            uses = step.get("uses")
            if uses and "@" not in uses:
                problems.append(f"job '{name}' step {i + 1} uses '{uses}' without a version")
            if not uses and "run" not in step:
                problems.append(f"job '{name}' step {i + 1} neither uses an action nor runs a command")
    for p in problems:
        print(f"{path}: {p}", file=sys.stderr)
    checks = 2 + len(jobs) * 3
    if problems:
        return 1
    print(f"workflow: {checks} passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
