"""What `import fermion as fm` offers is stated in `__all__`, and all of it imports."""

from __future__ import annotations

import subprocess
import sys

import fermion


def test_exported_members():
    assert set(fermion.__all__) >= {
        "Client",
        "Dataset",
        "DataLoader",
        "FermionError",
        "InvalidInput",
        "NotFound",
        "Unauthorized",
        "Conflict",
        "__version__",
    }
    for name in fermion.__all__:
        assert getattr(fermion, name) is not None, name


def test_import_fermion_does_not_load_torch():
    """The CLI imports fermion; it must not pay for torch on every command."""
    code = "import sys, fermion, fermion.cli.main; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_errors_round_trip_through_their_json_body():
    from fermion.errors import Conflict, InvalidRecords, error_from_body

    for error in (Conflict("taken"), InvalidRecords("bad", {"count": 3})):
        again = error_from_body(error.status, error.to_dict())
        assert type(again) is type(error)
        assert again.message == error.message and again.details == error.details
    assert "HTTP 502" in str(error_from_body(502, "<html>bad gateway</html>"))
