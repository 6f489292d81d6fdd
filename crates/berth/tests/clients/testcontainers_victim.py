"""A testcontainers-python program that gets killed: it starts busybox (which brings up the
reaper first, with the engine's socket bind-mounted into it), prints the container's ID and the
reaper's, then sleeps until the test SIGKILLs it. Cleaning up is left to the reaper alone.
DOCKER_HOST, TESTCONTAINERS_DOCKER_SOCKET_OVERRIDE and RYUK_CONTAINER_IMAGE come from the test."""

import sys
import time

from testcontainers.core.container import DockerContainer
from testcontainers.core.labels import LABEL_SESSION_ID, SESSION_ID

victim = DockerContainer("busybox").with_command("sleep 1000").start()
info = victim.get_wrapped_container()
info.reload()
assert info.labels.get(LABEL_SESSION_ID) == SESSION_ID, info.labels
print(f"session {SESSION_ID}", flush=True)
print(f"container {victim.get_container_id()}", flush=True)
time.sleep(1000)
sys.exit("not killed in time")
