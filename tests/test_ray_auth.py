"""The private local Ray that `nstbatch run --ray` starts refuses a client without its token (issue 45).

Ray runs whatever code reaches its ports, and its processes listen on every interface, so the cluster
nstbatch starts for a run must not take work from anyone else. A helper process starts it exactly as
a run does (``ray_executor.connect``), shows it works for its own driver, and waits; a client then
tries it over 127.0.0.1 with no token, and with a wrong one, from a home folder of its own (no
~/.ray/auth_token to fall back on)."""

import os
import pytest
import subprocess
import sys
import textwrap

HEAD = textwrap.dedent("""
    import os, sys
    from nstbatch.batch.ray_executor import RayCluster, connect

    ray = connect(RayCluster(workers=2))

    @ray.remote
    def pid():
        return os.getpid()

    port = ray.get_runtime_context().gcs_address.rsplit(":", 1)[1]
    print("READY", port, ray.get(pid.remote()) != os.getpid(), os.environ.get("RAY_AUTH_MODE"), flush=True)
    sys.stdin.read()  # held until the test closes it
    ray.shutdown()
""")

CLIENT = textwrap.dedent("""
    import os, sys
    import ray

    try:
        ray.init(address=sys.argv[1], log_to_driver=False)

        @ray.remote
        def pid():
            return os.getpid()

        print("RAN", ray.get(pid.remote(), timeout=30), flush=True)
    except Exception as exc:
        print("REFUSED", type(exc).__name__, flush=True)
""")


def without_ray_auth(home):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    return {**env, "HOME": str(home)}


@pytest.mark.slow
def test_the_private_local_ray_refuses_a_client_without_its_token(tmp_path):
    head_home, client_home = tmp_path / "head", tmp_path / "client"
    head_home.mkdir()
    client_home.mkdir()
    head = subprocess.Popen([sys.executable, "-c", HEAD], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=without_ray_auth(head_home))
    try:
        ready = head.stdout.readline().split()
        assert ready[:1] == ["READY"], ready
        port, worked, mode = ready[1], ready[2], ready[3]
        assert worked == "True" and mode == "token"  # its own driver runs tasks on it
        for wrong in (None, "0" * 64):
            env = without_ray_auth(client_home)
            if wrong is not None:
                env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=wrong)
            client = subprocess.run([sys.executable, "-c", CLIENT, f"127.0.0.1:{port}"], capture_output=True, text=True,
                                    timeout=240, env=env)
            said = client.stdout + client.stderr
            assert "RAN" not in client.stdout, said[-2000:]
            assert "REFUSED" in client.stdout and ("InvalidAuthToken" in said or "Unauthenticated" in said), said[-2000:]
    finally:
        head.stdin.close()
        head.wait(timeout=120)
    # The run's token was written nowhere: no token file in the home folder it ran with.
    assert not (head_home / ".ray").exists() or not list((head_home / ".ray").rglob("*token*"))
