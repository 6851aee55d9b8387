"""Checks of the Dockerfile and .dockerignore (part of `validate.py static`), read with BuildKit's own
Dockerfile parser (the `dockerfile` package): the image is one `shoplab` binary with its entrypoint, no
curl and no log filter of its own; dependencies are cooked in their own layer and the build uses cache
mounts; CARGO_BUILD_JOBS is a build argument; and .dockerignore keeps every file the build copies."""

from __future__ import annotations

import fnmatch

from labfiles import ROOT, dockerfile


def instructions():
    """Parsed instructions of the Dockerfile, or a parse error (raised by the parser)."""
    return dockerfile.parse_file(str(ROOT / "Dockerfile"))


def stages() -> list[list]:
    """Instructions grouped by build stage (the ARGs before the first FROM are left out)."""
    out: list[list] = []
    for ins in instructions():
        if ins.cmd.upper() == "FROM":
            out.append([])
        if out:
            out[-1].append(ins)
    return out


def runtime_commands() -> set[str]:
    """Commands of the final image: what its stage copies into /usr/local/bin, plus a Debian base's shell."""
    final = stages()[-1]
    names = {ins.value[-1].rsplit("/", 1)[1] for ins in final
             if ins.cmd.upper() == "COPY" and ins.value[-1].startswith("/usr/local/bin/")}
    base = final[0].value[0]
    return names | ({"sh", "cat"} if base.startswith("debian:") else set())


def _final_stage_problems(final) -> list[str]:
    problems, text = [], " ".join(" ".join(i.value) for i in final)
    bins = [i.value[-1] for i in final if i.cmd.upper() == "COPY" and i.value[-1].startswith("/usr/local/bin/")]
    if "/usr/local/bin/shoplab" not in bins:
        problems.append("the final stage does not install /usr/local/bin/shoplab")
    if any(word in text for word in ("curl", "apt-get")):
        problems.append("the final stage installs packages (curl, apt-get): health checks use `shoplab health`")
    if any(i.cmd.upper() == "ENV" and "RUST_LOG" in i.value for i in final):
        problems.append("the image sets RUST_LOG, replacing each process's own default filter")
    entry = next((i.value for i in final if i.cmd.upper() == "ENTRYPOINT"), ())
    if not any(v in bins for v in entry):
        problems.append(f"ENTRYPOINT {list(entry)} is not a file the final stage copies in")
    users = [i.value[0].split(":")[0] for i in final if i.cmd.upper() == "USER"]
    if not users or users[-1] in ("root", "0"):
        problems.append("the final stage runs as root")
    return problems


def check_dockerfile(_compose):
    try:
        all_stages = stages()
    except Exception as e:  # the parser's own syntax error
        return [f"Dockerfile does not parse: {e}"]
    problems = _final_stage_problems(all_stages[-1])
    runs = [i for stage in all_stages[:-1] for i in stage if i.cmd.upper() == "RUN"]
    if not any("cargo chef cook" in " ".join(i.value) for i in runs):
        problems.append("no `cargo chef cook` layer: every code change would rebuild the dependencies")
    if not any(any(f.startswith("--mount=type=cache") for f in i.flags) for i in runs if "cargo build" in i.value[0]):
        problems.append("the cargo build has no BuildKit cache mount")
    if not any(i.cmd.upper() == "ARG" and i.value[0].startswith("CARGO_BUILD_JOBS") for s in all_stages for i in s):
        problems.append("CARGO_BUILD_JOBS is not a build argument")
    return problems


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; `!` re-includes; a pattern matches a prefix directory."""
    ignored = False
    for pattern in patterns:
        negate, pat = pattern.startswith("!"), pattern.lstrip("!").rstrip("/")
        parts = path.split("/")
        if any(fnmatch.fnmatchcase("/".join(parts[:n]), pat) for n in range(1, len(parts) + 1)):
            ignored = not negate
    return ignored


def check_dockerignore(_compose):
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    problems = []
    for ins in instructions():
        if ins.cmd.upper() != "COPY" or any(f.startswith("--from") for f in ins.flags):
            continue
        for src in ins.value[:-1]:
            if src != "." and _ignored(src, patterns):
                problems.append(f"COPY {src}: excluded by .dockerignore")
    for needed in ("Cargo.toml", "Cargo.lock", "services/kit/src/lib.rs", "migrations/0001_lab.sql"):
        if _ignored(needed, patterns):
            problems.append(f"{needed}: excluded by .dockerignore, but the build needs it")
    return problems


IMAGE_CHECKS = [
    ("Dockerfile: one binary, cached dependency layer, cache mounts", check_dockerfile),
    (".dockerignore keeps what the build copies", check_dockerignore),
]
