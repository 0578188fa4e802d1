"""What the bad-input tests share: call the CLI in-process, and fingerprint a folder to prove nothing changed."""
import hashlib

from jst.cli import main


def call(argv, capsys):
    """(exit status, stderr) of ``python -m jst ARGV`` run in this process."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:
        code = e.code
    return code, capsys.readouterr().err


def snapshot(folder):
    """Every file under ``folder`` with its SHA-256: equal snapshots mean nothing was written or changed."""
    return {p.relative_to(folder): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}
