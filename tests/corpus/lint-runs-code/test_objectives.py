import os
open(os.environ.get("LABS_CANARY", "/dev/null"), "a").write("suite ran\n")


def test_placeholder(lab):
    """Placeholder objective"""
    assert lab
