"""The console pair: status lines on stderr are never broken by Rich, and JSON on stdout is plain JSON."""

import io
import json

from flexcode_bench import console


def test_a_status_message_longer_than_any_terminal_stays_one_line(capsys):
    message = " ".join(f"/a/long path/segment-{i}" for i in range(80))  # ~1,800 characters, many spaces
    console.warning(message)
    console.info(message)
    console.success(message)
    assert capsys.readouterr().err.splitlines() == [f"warning: {message}", message, f"✓ {message}"]


def test_json_on_stdout_stays_plain_when_a_terminal_or_forced_colour_would_highlight_it():
    buffer = io.StringIO()
    coloured = type(console.data)(file=buffer, force_terminal=True, color_system="truecolor", width=20)
    payload = {"path": "/tmp/with space/run", "reused": True, "n": [1, 2.5, None]}
    coloured.print_json(json.dumps(payload))
    assert "\x1b" not in buffer.getvalue() and json.loads(buffer.getvalue()) == payload
