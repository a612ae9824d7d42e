"""The README's Quickstart runs the same test command as CI (.ci/run)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def quickstart_commands(readme: str) -> list[str]:
    """Non-empty lines of the first fenced code block under '## Quickstart'."""
    section = re.search(r"^## Quickstart[ \t]*\n(.*?)(?=^## |\Z)", readme, re.M | re.S)
    assert section, "README.md has no '## Quickstart' section"
    block = re.search(r"^```[^\n]*\n(.*?)^```", section.group(1), re.M | re.S)
    assert block, "the Quickstart section has no fenced code block"
    return [line.strip() for line in block.group(1).splitlines() if line.strip()]


def ci_commands(script: str) -> list[str]:
    """Commands of .ci/run, leaving out the shebang, comments, shell options and the cd to the root."""
    out = []
    for line in script.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or line.startswith("set ") or line.startswith("cd "):
            continue
        out.append(line)
    return out


def test_quickstart_has_two_commands_and_the_second_is_ci():
    commands = quickstart_commands((ROOT / "README.md").read_text())
    assert len(commands) == 2, f"expected exactly two command lines, got {commands}"
    ci = ci_commands((ROOT / ".ci" / "run").read_text())
    assert len(ci) == 1, f".ci/run should run exactly one command, found {ci}"
    assert commands[1] == ci[0]


def test_parsers_on_examples():
    readme = "# x\n\n## Quickstart\n\ntext\n\n```bash\na && b\n\nc\n```\n\n```\nd\n```\n## Next\n```\ne\n```\n"
    assert quickstart_commands(readme) == ["a && b", "c"]
    assert ci_commands("#!/bin/sh\n# c\nset -e\ncd \"$(dirname $0)\"\n\nrun tests\n") == ["run tests"]


def test_readme_python_examples_run():
    """Every ```python block of the README runs as written (they are the user's first contact)."""
    import re

    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) >= 3
    for i, block in enumerate(blocks):
        exec(compile(block, f"README.md python block {i}", "exec"), {})
