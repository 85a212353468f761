"""What a serving process imports at start-up: pydantic-ai only once an agent runs."""

from __future__ import annotations

import subprocess
import sys


def test_the_app_does_not_import_pydantic_ai_at_start_up():
    probe = (
        "import sys, octipus.app\n"
        "from octipus.actions.registry import get_action\n"
        "get_action('spawn_agent')\n"
        "print('pydantic_ai' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
