"""Does a private local Ray, started as `nstbatch run --ray` starts it, refuse a client without its token?

    python scripts/ray_auth_check.py            # with the Ray this Python has
    /tmp/ray252/bin/python scripts/ray_auth_check.py   # e.g. the lowest Ray nstbatch allows, in a venv of its own

Needs only Ray (no nstbatch, so any Ray version can be checked in a bare venv): it sets what
``ray_executor.private_token`` sets (RAY_AUTH_MODE=token, a random RAY_AUTH_TOKEN), and, for comparison,
starts one with Ray's own defaults. For each, a client from an empty home folder (no ~/.ray/auth_token)
tries the cluster over 127.0.0.1 with no token. Prints one line a case, and what listens where.
Talks to 127.0.0.1 only.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
import textwrap

HEAD = textwrap.dedent("""
    import os, sys
    import ray
    ray.init(address="local", num_cpus=1, include_dashboard=False, log_to_driver=False)
    print("READY", ray.get_runtime_context().gcs_address.rsplit(":", 1)[1], flush=True)
    sys.stdin.read()
    ray.shutdown()
""")

CLIENT = textwrap.dedent("""
    import sys
    import ray
    try:
        ray.init(address=sys.argv[1], log_to_driver=False)
        ray.get(ray.remote(lambda: 1).remote(), timeout=30)
        print("ACCEPTED")
    except Exception as exc:
        print("REFUSED", type(exc).__name__)
""")


def listening(pid_names=("gcs_server", "raylet", "ray::")) -> list[str]:
    """The local addresses Ray's processes listen on (ss), e.g. '*:PORT' for every interface."""
    try:
        lines = subprocess.run(["ss", "-ltnp"], capture_output=True, text=True, timeout=10).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return ["(ss not available)"]
    found = set()
    for line in lines:
        if any(name in line for name in pid_names):
            address = line.split()[3]
            found.add(("*" if address.startswith(("*", "0.0.0.0", "[::]")) else address.rsplit(":", 1)[0]))
    return sorted(found)


def case(name: str, head_env: dict) -> str:
    with tempfile.TemporaryDirectory() as head_home, tempfile.TemporaryDirectory() as client_home:
        base = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
        head = subprocess.Popen([sys.executable, "-c", HEAD], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True, env={**base, **head_env, "HOME": head_home})
        try:
            ready = head.stdout.readline().split()
            if ready[:1] != ["READY"]:
                return f"{name}: the cluster did not start"
            where = listening()
            client = subprocess.run([sys.executable, "-c", CLIENT, f"127.0.0.1:{ready[1]}"], capture_output=True,
                                    text=True, timeout=240, env={**base, "HOME": client_home})
            answer = (client.stdout.strip().splitlines() or ["no answer"])[-1]
        finally:
            head.stdin.close()
            head.wait(timeout=120)
        token_file = os.path.exists(os.path.join(head_home, ".ray", "auth_token"))
    return (f"{name}: a client without the token: {answer}; listening on {', '.join(where)}; "
            f"token file written: {'yes' if token_file else 'no'}")


def main() -> None:
    import ray

    print(f"Ray {ray.__version__}")
    print(case("as nstbatch starts it", {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}))
    print(case("Ray's defaults", {}))


if __name__ == "__main__":
    main()
