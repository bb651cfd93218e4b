"""The release history of one rollback-bad-release instance (shared by setup, solution and checks).

Releases are folders named by date, oldest first, as deploy tools lay them out; the last one,
shipped this morning, carries a bug. ``release_code`` gives each release's app.py from the
pristine app, so the checks know every release's true content without trusting the disk.
"""

PRISTINE = "/usr/local/share/releasebox/app.py"
GOOD = ["2026-11-01-v40", "2026-11-15-v41"]
BAD = "2026-11-27-v42"
RELEASES = GOOD + [BAD]
_BUG = ('PRICE_FORMAT = "{amount:.2f} {currency}"', 'PRICE_FORMAT = "{amount:.2f} {currency_code}"')


def release_code(pristine: str, release: str) -> str:
    """What ``/srv/releases/<release>/app.py`` holds: the pristine app, with v42's bug in v42."""
    if release == BAD:
        assert _BUG[0] in pristine, "the pristine app no longer has the line the bad release changes"
        return pristine.replace(*_BUG)
    return pristine


def bad_code(pristine: str) -> str:
    """A bad release's code (the check makes one of its own)."""
    return pristine.replace(*_BUG)
