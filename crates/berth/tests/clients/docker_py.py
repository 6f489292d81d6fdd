"""docker-py (PyPI `docker`) against berth serve: containers, exec, build, images, pull/push,
networks and volumes, as a Python program would use them. DOCKER_HOST names the socket;
argv[1] is a local registry (host:port) to push to and pull from.
Every check raises on failure; the last line printed is "all ok"."""

import io
import sys
import tarfile

import docker

registry = sys.argv[1]
client = docker.from_env(timeout=120)
assert client.ping()
assert client.version()["ApiVersion"] == "1.44"

# Containers: run in the background, logs, exec, wait, remove.
c = client.containers.run("busybox", ["sh", "-c", "echo started; sleep 30"], detach=True,
                          name="py-web", labels={"app": "py"})
c.reload()
assert c.status == "running", c.status
assert c.labels["app"] == "py"
for _ in range(50):
    if b"started" in c.logs():
        break
assert c.logs() == b"started\n", c.logs()
code, out = c.exec_run(["sh", "-c", "echo from-exec; exit 3"])
assert (code, out) == (3, b"from-exec\n"), (code, out)
code, (out, err) = c.exec_run(["sh", "-c", "echo o; echo e >&2"], demux=True)
assert (code, out, err) == (0, b"o\n", b"e\n"), (code, out, err)
assert [x.name for x in client.containers.list(filters={"label": "app=py"})] == ["py-web"]
c.kill()
assert c.wait()["StatusCode"] == 137
c.remove()
assert client.containers.list(all=True, filters={"name": "py-web"}) == []

# A foreground run returns the output; a failing one raises with the code.
assert client.containers.run("busybox", ["echo", "hi"], remove=True) == b"hi\n"
try:
    client.containers.run("busybox", ["sh", "-c", "exit 5"], remove=True)
    raise AssertionError("a failing container must raise")
except docker.errors.ContainerError as e:
    assert e.exit_status == 5

# Build from an in-memory context.
context = io.BytesIO()
with tarfile.open(fileobj=context, mode="w") as tar:
    dockerfile = b"FROM busybox\nRUN echo built > /built\nCMD cat /built\n"
    info = tarfile.TarInfo("Dockerfile")
    info.size = len(dockerfile)
    tar.addfile(info, io.BytesIO(dockerfile))
context.seek(0)
image, logs = client.images.build(fileobj=context, custom_context=True, tag="py-app:v1", rm=True)
assert "py-app:v1" in image.tags, image.tags
assert any("Successfully built" in l.get("stream", "") for l in logs)
assert client.containers.run("py-app:v1", remove=True) == b"built\n"

# Push to and pull from the local registry.
ref = f"{registry}/py-app"
image.tag(ref, "v1")
for line in client.images.push(ref, tag="v1", stream=True, decode=True):
    assert "error" not in line, line
client.images.remove(f"{ref}:v1")
pulled = client.images.pull(ref, tag="v1")
assert pulled.id == image.id, (pulled.id, image.id)
# What the registry says without a pull: the digest the pull recorded, and our platform.
data = client.images.get_registry_data(f"{ref}:v1")
assert any(d.endswith(data.id) for d in pulled.attrs["RepoDigests"]), (data.id, pulled.attrs)
assert data.has_platform("linux"), data.attrs

# Networks: containers find each other by name.
net = client.networks.create("py-net")
server = client.containers.run("busybox", ["httpd", "-f", "-p", "80", "-h", "/etc"], detach=True,
                               name="py-server", network="py-net")
out = client.containers.run("busybox", ["wget", "-q", "-O-", "http://py-server/hostname"],
                            network="py-net", remove=True)
assert out.strip(), out
server.remove(force=True)
net.reload()
net.remove()

# Volumes: what one container writes, the next reads.
vol = client.volumes.create("py-vol", labels={"k": "v"})
client.containers.run("busybox", ["sh", "-c", "echo kept > /data/f"], volumes={"py-vol": {"bind": "/data"}},
                      remove=True)
assert client.containers.run("busybox", ["cat", "/data/f"], volumes={"py-vol": {"bind": "/data"}},
                             remove=True) == b"kept\n"
assert client.volumes.get("py-vol").attrs["Labels"] == {"k": "v"}
vol.remove()
print("all ok")
