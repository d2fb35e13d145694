import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_custom_decoder_example_registers_trains_and_decodes():
    result = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "custom_decoder.py")],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "tokengt_ortho" in result.stdout
    assert "tokengt_ortho  unseen IOU" in result.stdout and "invalid 0.000" in result.stdout
    assert "reloaded: OrthonormalTokenGT orthonormal" in result.stdout
