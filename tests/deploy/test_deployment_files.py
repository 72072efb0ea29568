"""The deployment files agree with the repository they deploy.

compose.gpu.yml, docker/*.Dockerfile, docker/nginx.conf and .dockerignore are parsed and checked
against the files, settings and requirement pins in this repository. No Docker engine is needed:
each test names the mistake that would otherwise surface only at `docker compose up`.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

import pytest
import yaml

from mrimesh.config import DEFAULT_MAX_UPLOAD_BYTES, Settings, env_name

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "compose.gpu.yml"
GPU_HOST_COMPOSE_FILE = ROOT / "compose.gpu-host.yml"
GPU_HOST_ENV_EXAMPLE = ROOT / "docker" / "gpu-host.env.example"
#: What a worker on a GPU host that shares nothing but Redis and the bucket must be told.
GPU_HOST_VARIABLES = {
    "MRIMESH_REDIS_URL",
    "MRIMESH_S3_ENDPOINT",
    "MRIMESH_S3_BUCKET",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_DEFAULT_REGION",
}
NGINX_CONF = ROOT / "docker" / "nginx.conf"
DOCKERIGNORE = ROOT / ".dockerignore"
OPERATIONS_DOC = ROOT / "docs" / "operations.md"

#: The services compose.gpu.yml must define.
SERVICES = {"redis", "api", "web", "gpu_worker", "janitor"}
#: Services that run mrimesh code and share its settings and data.
MRIMESH_SERVICES = ("api", "gpu_worker", "janitor")
#: Paths nginx must hand to the API; everything else is the static page.
API_PATHS = ("/upload", "/status", "/download", "/jobs", "/stats", "/metrics", "/healthz")
#: Where the repository lands in both images (their WORKDIR).
APP_DIR = PurePosixPath("/app")
#: Packages that must never reach the API image.
HEAVY_PACKAGES = {"torch", "monai", "open3d"}


# --------------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict) -> dict[str, dict]:
    return compose["services"]


@pytest.fixture(scope="module")
def nginx() -> list[Directive]:
    return parse_nginx(NGINX_CONF.read_text())


def dockerfiles() -> list[Path]:
    """Every Dockerfile under docker/, so a new one is checked without editing this file."""
    return sorted((ROOT / "docker").glob("*Dockerfile"))


def built_dockerfiles(services: dict[str, dict]) -> dict[str, Path]:
    """Service name -> the Dockerfile compose builds it from."""
    found = {}
    for name, service in services.items():
        build = service.get("build")
        if build is not None:
            context = ROOT / (build if isinstance(build, str) else build.get("context", "."))
            dockerfile = "Dockerfile" if isinstance(build, str) else build["dockerfile"]
            found[name] = context / dockerfile
    return found


# --------------------------------------------------------------------------------------------------
# compose.gpu.yml


def test_compose_defines_the_services(services):
    assert set(services) == SERVICES


def test_services_run_the_agreed_commands(services):
    # given the commands the Python side provides
    # then compose runs exactly those (the worker's through the GPU claim wrapper)
    assert services["api"]["command"] == [
        "gunicorn",
        "--config",
        "api/gunicorn_conf.py",
        "api.wsgi:app",
    ]
    assert services["gpu_worker"]["command"][-3:] == ["python", "-m", "gpu_worker.worker"]
    assert services["janitor"]["command"] == ["python", "-m", "gpu_worker.janitor"]


@pytest.mark.parametrize("name", MRIMESH_SERVICES)
def test_service_command_refers_to_files_in_the_repo(services, name):
    service = services[name]
    image_cmd, image_entrypoint = _image_defaults(services, name)
    argv = [
        *(service.get("entrypoint") or image_entrypoint),
        *(service.get("command") or image_cmd),
    ]
    references = list(referenced_files(argv))
    assert references, f"{name}: {argv} names no module or file of this repository"
    for token, path in references:
        assert (ROOT / path).is_file(), f"{name}: {token!r} needs {path}, which does not exist"


@pytest.mark.parametrize("dockerfile", dockerfiles(), ids=lambda p: p.name)
def test_image_cmd_refers_to_files_in_the_repo(dockerfile):
    cmd = _exec_form(last(parse_dockerfile(dockerfile), "CMD"))
    references = list(referenced_files(cmd))
    assert references, f"{dockerfile.name}: CMD {cmd} names no module or file of this repository"
    for token, path in references:
        assert (ROOT / path).is_file(), f"{dockerfile.name}: {token!r} needs {path}, missing"


def test_built_services_use_dockerfiles_that_exist(services):
    built = built_dockerfiles(services)
    assert set(built) == set(MRIMESH_SERVICES)
    for name, dockerfile in built.items():
        assert dockerfile.is_file(), f"{name} builds from {dockerfile}, which does not exist"
        context = services[name]["build"]["context"]
        assert (ROOT / context).resolve() == ROOT, f"{name}: COPY paths assume the repo root"


def test_worker_and_janitor_share_one_image(services):
    assert services["janitor"]["build"] == services["gpu_worker"]["build"]
    assert services["janitor"]["image"] == services["gpu_worker"]["image"]


def test_gpu_worker_reserves_gpus_and_claims_one_each(services):
    worker = services["gpu_worker"]
    devices = worker["deploy"]["resources"]["reservations"]["devices"]
    nvidia = [d for d in devices if d.get("driver") == "nvidia" and "gpu" in d["capabilities"]]
    assert nvidia, "gpu_worker has no NVIDIA GPU reservation"
    reservation = nvidia[0]
    # Docker hands `count: N` to every replica as GPUs 0..N-1: with count 1, `--scale
    # gpu_worker=4` puts four workers on GPU 0. The replicas must see the GPUs and claim one each.
    assert reservation.get("count") != 1, "count: 1 puts every replica on GPU 0"
    assert reservation.get("count") == "all" or reservation.get("device_ids")
    assert worker["command"][0].endswith("docker/claim-gpu.sh"), "workers would share GPUs"
    assert (ROOT / "docker" / "claim-gpu.sh").is_file()
    lock_dir = worker["environment"].get("GPU_LOCK_DIR") or _dockerfile_env(
        built_dockerfiles(services)["gpu_worker"]
    ).get("GPU_LOCK_DIR")
    lock_mounts = [v for v in _named_volume_mounts(worker) if v[1] == lock_dir]
    assert lock_mounts, f"the GPU lock dir {lock_dir} must be a volume all replicas share"


def test_gpu_worker_scales_with_one_flag(services):
    worker = services["gpu_worker"]
    assert "container_name" not in worker, "a fixed container name prevents --scale"
    assert not worker.get("ports"), "a published host port prevents --scale"
    assert worker["restart"] == "unless-stopped"


def test_janitor_needs_no_gpu(services):
    assert "deploy" not in services["janitor"]


def test_redis_persists_with_aof_every_second_and_rdb(services, compose):
    redis = services["redis"]
    options = _redis_options(redis["command"])
    assert options.get("appendonly") == "yes"
    assert options.get("appendfsync") == "everysec"
    assert options.get("save", "").strip(), "no RDB save points"
    # Dramatiq's queues and job records must never be evicted to make room.
    assert options.get("maxmemory-policy", "noeviction") == "noeviction"
    mounts = dict((target, source) for source, target in _named_volume_mounts(redis))
    assert "/data" in mounts, "Redis' /data is not on a named volume"
    assert mounts["/data"] in compose["volumes"]


def test_mrimesh_services_share_the_data_volume_at_the_data_dir(services, compose):
    targets = {}
    for name in MRIMESH_SERVICES:
        mounts = [t for source, t in _named_volume_mounts(services[name]) if source == "data"]
        assert len(mounts) == 1, f"{name} does not mount the data volume"
        targets[name] = mounts[0]
        assert services[name]["environment"]["MRIMESH_DATA_DIR"] == mounts[0], (
            f"{name}: MRIMESH_DATA_DIR is not where the data volume is mounted"
        )
    assert len(set(targets.values())) == 1, f"data volume mounted at different paths: {targets}"
    assert "data" in compose["volumes"]


def test_mrimesh_services_share_one_redis(services):
    urls = {name: services[name]["environment"]["MRIMESH_REDIS_URL"] for name in MRIMESH_SERVICES}
    assert len(set(urls.values())) == 1, urls
    assert urlparse(next(iter(urls.values()))).hostname in services


def test_mrimesh_variables_in_compose_are_settings(services):
    known = {env_name(field.name) for field in dataclasses.fields(Settings)}
    for name, service in services.items():
        for variable in effective_env(service):
            if variable.startswith("MRIMESH_"):
                assert variable in known, f"{name}: {variable} is not a setting in config.py"


def test_env_files_compose_requires_exist(services):
    for name, service in services.items():
        for entry in service.get("env_file", []):
            path, required = _env_file_entry(entry)
            assert not required or (ROOT / path).is_file(), f"{name} needs {path}"


def test_the_operators_env_file_is_optional_and_read_last(services):
    # given mrimesh.env, where an operator tunes the deployment
    for name in MRIMESH_SERVICES:
        entries = [_env_file_entry(e) for e in services[name]["env_file"]]
        # then it may be absent, and it overrides the deployment's defaults
        assert entries[-1] == ("mrimesh.env", False), name


def test_workers_use_cuda_or_fail(services):
    # "auto" would fall back to the CPU, ten times slower, when CUDA is broken
    assert effective_env(services["gpu_worker"])["MRIMESH_DEVICE"] == "cuda"


def test_api_port_agrees_with_nginx_upstream(services, nginx):
    port = int(services["api"]["environment"]["MRIMESH_PORT"])
    for path in API_PATHS:
        target = urlparse(_proxy_target(nginx, path))
        assert target.hostname == "api" and target.port == port, (path, target.geturl())


def test_api_listens_beyond_localhost_and_trusts_nginx_once(services):
    env = effective_env(services["api"])
    assert env["MRIMESH_BIND_HOST"] == "0.0.0.0", "nginx could not reach an API on 127.0.0.1"
    # One proxy in front: rate limits must key on the client, not on nginx's address.
    assert env["MRIMESH_PROXY_HOPS"] == "1"
    image_env = _dockerfile_env(ROOT / "docker" / "api.Dockerfile")
    assert image_env["MRIMESH_BIND_HOST"] == "0.0.0.0"


def test_mrimesh_services_wait_for_a_healthy_redis(services):
    for name in MRIMESH_SERVICES:
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_restarts_and_has_a_healthcheck(services, name):
    service = services[name]
    assert service.get("restart") in {"always", "unless-stopped", "on-failure"}
    healthcheck = service.get("healthcheck")
    if healthcheck is None and name in built_dockerfiles(services):
        instructions = parse_dockerfile(built_dockerfiles(services)[name])
        healthcheck = {"test": _healthcheck_argv(last(instructions, "HEALTHCHECK"))}
    assert healthcheck and healthcheck.get("test") and not healthcheck.get("disable"), name


def test_healthchecks_run_scripts_that_exist(services):
    for name, service in services.items():
        test = service.get("healthcheck", {}).get("test", [])
        for _, path in referenced_files(test[1:] if test[:1] == ["CMD"] else []):
            assert (ROOT / path).is_file(), f"{name}: healthcheck needs {path}"


def test_web_serves_the_static_page_with_this_nginx_conf(services):
    web = services["web"]
    assert web["image"].startswith("nginx")
    binds = {}
    for volume in web["volumes"]:
        source, target = volume.split(":")[:2]
        binds[target] = source
    assert (ROOT / binds["/etc/nginx/nginx.conf"]).resolve() == NGINX_CONF
    static = ROOT / binds["/usr/share/nginx/html"]
    assert static.resolve() == ROOT / "web"
    assert static.is_dir()


def test_only_web_publishes_a_port(services):
    published = sorted(name for name, service in services.items() if service.get("ports"))
    assert published == ["web"], "Redis and gunicorn must be reachable only inside compose"


# --------------------------------------------------------------------------------------------------
# compose.gpu-host.yml: a GPU host joining an existing Redis and bucket


@pytest.fixture(scope="module")
def gpu_host() -> dict:
    return yaml.safe_load(GPU_HOST_COMPOSE_FILE.read_text())


def test_gpu_host_runs_workers_only_with_the_same_command_and_image(gpu_host, services):
    assert set(gpu_host["services"]) == {"gpu_worker"}, "a GPU host runs no Redis, API or janitor"
    worker = gpu_host["services"]["gpu_worker"]
    assert worker["command"] == services["gpu_worker"]["command"]
    assert worker["command"][-3:] == ["python", "-m", "gpu_worker.worker"]
    assert worker["build"] == services["gpu_worker"]["build"]
    assert worker["image"] == services["gpu_worker"]["image"]
    assert (ROOT / worker["build"]["dockerfile"]).is_file()


def test_gpu_host_shares_no_file_system(gpu_host):
    worker = gpu_host["services"]["gpu_worker"]
    env = worker["environment"]
    assert env["MRIMESH_STORAGE"] == "s3"
    mounts = dict((target, source) for source, target in _named_volume_mounts(worker))
    scratch = env["MRIMESH_DATA_DIR"]
    assert scratch in mounts, "the worker's scratch is not on a volume"
    assert mounts[scratch] != "data" and mounts[scratch] in gpu_host["volumes"]
    binds = [
        v for v in worker.get("volumes", []) if isinstance(v, str) and v.startswith((".", "/"))
    ]
    assert not binds, f"a GPU host mounts nothing from the API host: {binds}"


def test_gpu_host_is_told_redis_the_bucket_and_credentials_by_its_operator(gpu_host):
    worker = gpu_host["services"]["gpu_worker"]
    entries = [_env_file_entry(e) for e in worker["env_file"]]
    assert entries[-1] == ("mrimesh.env", True), "without mrimesh.env there is nothing to join"
    example = _read_env_file(GPU_HOST_ENV_EXAMPLE)
    assert set(example) == GPU_HOST_VARIABLES
    known = {env_name(field.name) for field in dataclasses.fields(Settings)}
    for variable in [*example, *worker["environment"]]:
        assert variable in known, f"{variable} is not read by mrimesh/config.py"
    assert urlparse(example["MRIMESH_REDIS_URL"]).scheme == "rediss", "Redis across hosts: TLS"
    assert "MRIMESH_REDIS_URL" not in worker["environment"], "it must come from mrimesh.env"


def test_gpu_host_claims_one_gpu_per_replica_and_scales(gpu_host):
    worker = gpu_host["services"]["gpu_worker"]
    (device,) = worker["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device.get("count") == "all"
    assert worker["command"][0].endswith("docker/claim-gpu.sh")
    assert "container_name" not in worker and not worker.get("ports")
    assert worker["restart"] == "unless-stopped"
    assert worker["healthcheck"]["test"][-1] == "worker"


def test_every_storage_setting_is_in_the_readme_table():
    readme = (ROOT / "README.md").read_text()
    for field in dataclasses.fields(Settings):
        if field.name == "storage" or field.name.startswith(("s3_", "aws_")):
            assert f"`{env_name(field.name)}`" in readme, f"README lacks {env_name(field.name)}"


def test_operations_explains_scaling_across_hosts():
    text = OPERATIONS_DOC.read_text()
    assert "\n## Scaling across hosts\n" in text
    section = text.split("\n## Scaling across hosts\n", 1)[1].split("\n## ", 1)[0]
    for topic in (
        "compose.gpu-host.yml",
        "lifecycle",
        "AWS_SECRET_ACCESS_KEY",
        "MRIMESH_S3_PUBLIC_ENDPOINT",
    ):
        assert topic in section, f"'Scaling across hosts' does not mention {topic}"


# --------------------------------------------------------------------------------------------------
# Dockerfiles


@pytest.mark.parametrize("dockerfile", dockerfiles(), ids=lambda p: p.name)
def test_copy_sources_exist_and_reach_the_build(dockerfile):
    ignore = DockerIgnore.load(DOCKERIGNORE)
    copies = [c for c in copy_instructions(parse_dockerfile(dockerfile)) if c.stage is None]
    assert copies
    for copy in copies:
        for source in copy.sources:
            path = ROOT / source
            assert path.exists(), f"{dockerfile.name}: COPY {source} does not exist"
            assert not ignore.excludes(source), f"{dockerfile.name}: .dockerignore drops {source}"
            if path.is_dir():
                kept = [
                    f
                    for f in path.rglob("*")
                    if f.is_file() and not ignore.excludes(f.relative_to(ROOT).as_posix())
                ]
                assert kept, f"{dockerfile.name}: COPY {source} copies no file"


@pytest.mark.parametrize("dockerfile", dockerfiles(), ids=lambda p: p.name)
def test_requirement_files_are_copied_before_pip_reads_them(dockerfile):
    instructions = parse_dockerfile(dockerfile)
    read = list(requirement_reads(instructions))
    assert read, f"{dockerfile.name} installs no requirements file"
    for container_path, repo_path in read:
        assert repo_path is not None, f"{dockerfile.name}: {container_path} was not COPYed first"
        assert (ROOT / repo_path).is_file(), f"{dockerfile.name}: {repo_path} does not exist"


def test_api_image_installs_no_torch():
    dockerfile = ROOT / "docker" / "api.Dockerfile"
    installed = set()
    for _, repo_path in requirement_reads(parse_dockerfile(dockerfile)):
        installed |= set(requirement_pins(ROOT / repo_path))
    assert installed, "api.Dockerfile installs nothing"
    assert not installed & HEAVY_PACKAGES, "the API must not load torch, MONAI or open3d"
    copied = [c.sources for c in copy_instructions(parse_dockerfile(dockerfile))]
    assert not [s for sources in copied for s in sources if s.startswith("gpu_worker")], (
        "the API never imports gpu_worker/"
    )


def test_worker_image_installs_the_cuda_torch_that_worker_txt_pins():
    dockerfile = ROOT / "docker" / "worker.Dockerfile"
    instructions = parse_dockerfile(dockerfile)
    args = _build_args(instructions)
    pinned = requirement_pins(ROOT / "requirements" / "worker.txt")["torch"]
    assert args["TORCH_VERSION"] == pinned, "worker.Dockerfile and worker.txt disagree on torch"

    # The CUDA of the torch wheel is the CUDA of the base image.
    cuda_tag = re.fullmatch(r"cu(\d+)(\d)", args["TORCH_CUDA"])
    assert cuda_tag, args["TORCH_CUDA"]
    image_cuda = re.search(r":(\d+)\.(\d+)", args["CUDA_IMAGE"])
    assert image_cuda and image_cuda.groups() == cuda_tag.groups(), (
        f"{args['CUDA_IMAGE']} does not match torch's {args['TORCH_CUDA']}"
    )

    runs = [i for i in instructions if i.keyword == "RUN"]
    torch_step = _index_of(runs, lambda r: "torch==${TORCH_VERSION}+${TORCH_CUDA}" in r.args)
    worker_step = _index_of(runs, lambda r: "requirements/worker.txt" in r.args)
    assert torch_step is not None and worker_step is not None
    assert torch_step < worker_step, "CUDA torch must be installed before worker.txt"
    torch_words = shlex.split(runs[torch_step].args)
    index = torch_words[torch_words.index("--index-url") + 1]
    assert index == "https://download.pytorch.org/whl/${TORCH_CUDA}"
    assert "--extra-index-url" not in torch_words

    # The second step must keep the CUDA build: nothing that re-resolves torch from PyPI.
    second = runs[worker_step].args
    for flag in ("--extra-index-url", "--index-url", "--upgrade", " -U ", "--force-reinstall"):
        assert flag not in second, f"{flag} in the worker.txt step may replace the CUDA torch"
    assert "--ignore-installed" not in second
    # ... and a constraint file, written by the torch step, pins the exact CUDA build.
    env = _dockerfile_env(dockerfile)
    constraint = env.get("PIP_CONSTRAINT")
    assert constraint, "no PIP_CONSTRAINT holds torch to the CUDA build"
    written = re.search(r'echo "(torch==[^"]+)" > "?([^"\s]+)"?', runs[torch_step].args)
    assert written, "the torch step does not write the constraint file"
    assert written.group(1) == "torch==${TORCH_VERSION}+${TORCH_CUDA}"
    assert _expand(written.group(2), env) == constraint
    env_at = _index_of(instructions, lambda i: i.keyword == "ENV" and "PIP_CONSTRAINT" in i.args)
    assert env_at < instructions.index(runs[worker_step]), "PIP_CONSTRAINT set too late"


def test_worker_image_has_the_system_libraries_open3d_needs():
    installed = set()
    for instruction in parse_dockerfile(ROOT / "docker" / "worker.Dockerfile"):
        if instruction.keyword == "RUN" and "apt-get install" in instruction.args:
            installed |= set(shlex.split(instruction.args))
    # libOpen3D.so links libusb, libGL, libEGL and libX11 even when nothing is drawn.
    for package in ("libusb-1.0-0", "libgomp1", "libgl1", "libegl1", "libx11-6", "python3.11"):
        assert package in installed, package


@pytest.mark.parametrize("dockerfile", dockerfiles(), ids=lambda p: p.name)
def test_images_run_as_the_same_non_root_user(dockerfile):
    instructions = parse_dockerfile(dockerfile)
    user = last(instructions, "USER")
    assert user and user.split(":")[0] not in {"root", "0"}, f"{dockerfile.name} runs as root"
    # Same uid everywhere, or one container cannot delete what another wrote on the data volume.
    assert _build_args(instructions)["APP_UID"] == "10001"


@pytest.mark.parametrize("dockerfile", dockerfiles(), ids=lambda p: p.name)
def test_images_use_python_311(dockerfile):
    instructions = parse_dockerfile(dockerfile)
    base = next(i.args for i in instructions if i.keyword == "FROM")
    assert "python:3.11" in base or "python3.11" in dockerfile.read_text()


@pytest.mark.parametrize(
    ("dockerfile", "check"), [("api.Dockerfile", "http"), ("worker.Dockerfile", "worker")]
)
def test_images_check_their_health_with_python(dockerfile, check):
    argv = _healthcheck_argv(last(parse_dockerfile(ROOT / "docker" / dockerfile), "HEALTHCHECK"))
    assert argv[0] == "python", "the images have no curl"
    assert argv[-1] == check
    for _, path in referenced_files(argv):
        assert (ROOT / path).is_file(), path


# --------------------------------------------------------------------------------------------------
# nginx.conf


def test_nginx_proxies_every_api_path_to_the_api(nginx):
    for path in API_PATHS:
        for url in (path, f"{path}/0123abcd"):
            assert _proxy_target(nginx, url), f"nginx serves {url} as a static file"


def test_nginx_proxies_every_route_the_api_has(nginx, app):
    # given every route of the real app, except the static page nginx serves itself
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("frontend.") or rule.endpoint == "static":
            continue
        url = re.sub(r"<[^>]+>", "0123abcd", rule.rule)
        # then nginx hands it to the API
        assert _proxy_target(nginx, url), f"nginx does not proxy {rule.rule} ({rule.endpoint})"


def test_nginx_puts_the_api_security_headers_on_the_static_page(nginx, client):
    # given the page as the API serves it in local runs
    response = client.get("/")
    assert response.status_code == 200
    # then nginx serves it with the same headers
    location = match_location(_server(nginx), "/")
    from_nginx = {d.args[0].lower(): d.args[1] for d in location.find("add_header")}
    for name in (
        "Content-Security-Policy",
        "X-Content-Type-Options",
        "X-Frame-Options",
        "Referrer-Policy",
        "Cross-Origin-Opener-Policy",
        "Permissions-Policy",
        "Cache-Control",
    ):
        assert from_nginx.get(name.lower()) == response.headers.get(name), name


def test_nginx_serves_everything_else_from_web(nginx):
    for url in ("/", "/index.html", "/js/app.js", "/statusbar.css", "/uploads.html"):
        location = match_location(_server(nginx), url)
        assert location is not None and not location.find("proxy_pass"), url


def test_nginx_accepts_uploads_as_large_as_the_api_does(nginx):
    location = match_location(_server(nginx), "/upload")
    limit = _setting(location, _server(nginx), "client_max_body_size")
    assert limit is not None and nginx_size(limit) >= DEFAULT_MAX_UPLOAD_BYTES


def test_nginx_buffers_uploads_before_passing_them_on(nginx):
    location = match_location(_server(nginx), "/upload")
    assert _setting(location, _server(nginx), "proxy_request_buffering") in (None, "on")
    assert "proxy_request_buffering off" not in NGINX_CONF.read_text()


def test_nginx_resolves_the_api_through_docker_dns(nginx):
    http = next(d for d in nginx if d.name == "http")
    resolver = http.find("resolver")
    assert resolver and resolver[0].args[0] == "127.0.0.11"


# --------------------------------------------------------------------------------------------------
# .dockerignore and docs


def test_dockerignore_keeps_bulk_and_patient_data_out_of_the_context():
    ignore = DockerIgnore.load(DOCKERIGNORE)
    for path in (".git/HEAD", ".venv/bin/python", "var/data/jobs/x/scan.nii.gz", "mrimesh.env"):
        assert ignore.excludes(path), path
    assert not ignore.excludes("mrimesh/config.py")


def test_operations_doc_lists_every_setting_and_no_other():
    text = OPERATIONS_DOC.read_text()
    known = {env_name(field.name) for field in dataclasses.fields(Settings)}
    mentioned = set(re.findall(r"\bMRIMESH_[A-Z0-9_]+\b", text))
    mentioned |= set(re.findall(r"\bAWS_[A-Z_]+\b", text))
    assert known - mentioned == set(), "settings missing from docs/operations.md"
    assert mentioned - known == set(), "docs/operations.md names settings config.py lacks"


# --------------------------------------------------------------------------------------------------
# Dockerfile parsing


@dataclasses.dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    workdir: PurePosixPath


@dataclasses.dataclass(frozen=True)
class Copy:
    sources: tuple[str, ...]
    destination: PurePosixPath
    stage: str | None


def parse_dockerfile(path: Path) -> list[Instruction]:
    """Instructions with continuation lines joined and comments dropped."""
    instructions: list[Instruction] = []
    workdir = PurePosixPath("/")
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, args = (pending + line).partition(" ")
        pending = ""
        instruction = Instruction(keyword.upper(), " ".join(args.split()), workdir)
        if instruction.keyword == "WORKDIR":
            workdir = workdir / instruction.args
        elif instruction.keyword == "FROM":
            workdir = PurePosixPath("/")
        instructions.append(dataclasses.replace(instruction, workdir=workdir))
    return instructions


def last(instructions: list[Instruction], keyword: str) -> str:
    found = [i.args for i in instructions if i.keyword == keyword]
    return found[-1] if found else ""


def copy_instructions(instructions: list[Instruction]) -> Iterator[Copy]:
    for instruction in instructions:
        if instruction.keyword not in {"COPY", "ADD"}:
            continue
        words = _exec_form(instruction.args)
        flags = [w for w in words if w.startswith("--")]
        paths = [w for w in words if not w.startswith("--")]
        stage = next((f.split("=", 1)[1] for f in flags if f.startswith("--from=")), None)
        destination = instruction.workdir / paths[-1]
        yield Copy(tuple(p.rstrip("/") or "." for p in paths[:-1]), destination, stage)


def copied_files(instructions: list[Instruction]) -> Iterator[tuple[Instruction, str, str]]:
    """(instruction, container path, repo path) for every repo file a COPY puts in the image."""
    for instruction in instructions:
        if instruction.keyword != "COPY":
            continue
        (copy,) = copy_instructions([instruction])
        if copy.stage is not None:
            continue
        into_dir = len(copy.sources) > 1 or _exec_form(instruction.args)[-1].endswith("/")
        for source in copy.sources:
            path = ROOT / source
            if path.is_dir():
                for f in sorted(p for p in path.rglob("*") if p.is_file()):
                    inside = f.relative_to(path).as_posix()
                    yield (
                        instruction,
                        str(copy.destination / inside),
                        f.relative_to(ROOT).as_posix(),
                    )
            else:
                target = copy.destination / path.name if into_dir else copy.destination
                yield instruction, str(target), source


def requirement_reads(instructions: list[Instruction]) -> Iterator[tuple[str, str | None]]:
    """(container path, repo path or None) for each requirements file pip reads, nested included.

    The repo path is None when no earlier COPY put a file at that container path.
    """
    copies = list(copied_files(instructions))
    available: dict[str, str] = {}
    for instruction in instructions:
        for copied, container_path, repo_path in copies:
            if copied is instruction:
                available[container_path] = repo_path
        if instruction.keyword != "RUN" or "pip install" not in instruction.args:
            continue
        words = shlex.split(instruction.args)
        for flag, value in itertools.pairwise(words):
            if flag in {"-r", "--requirement"}:
                yield from _follow_requirements(instruction.workdir / value, available)


def _follow_requirements(path: PurePosixPath, available: dict[str, str]):
    repo_path = available.get(str(path))
    yield str(path), repo_path
    if repo_path is None or not (ROOT / repo_path).is_file():
        return
    for line in (ROOT / repo_path).read_text().splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) == 2 and words[0] in {"-r", "--requirement", "-c", "--constraint"}:
            yield from _follow_requirements(path.parent / words[1], available)


def requirement_pins(path: Path) -> dict[str, str]:
    """name -> pinned version for `name==version` lines, nested `-r` files included."""
    pins: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith(("-r ", "--requirement ")):
            pins |= requirement_pins(path.parent / line.split()[1])
        elif "==" in line:
            name, version = line.split("==", 1)
            pins[re.sub(r"[-_.]+", "-", name.strip().lower())] = version.strip()
    return pins


def referenced_files(argv: list[str]) -> Iterator[tuple[str, str]]:
    """(token, repo path) for each module or file of this repository that a command names."""
    for i, token in enumerate(argv):
        previous = argv[i - 1] if i else ""
        if previous == "-m":
            yield token, _module_file(token)
        elif previous in {"--config", "-c"} and token.endswith(".py"):
            yield token, token
        elif re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", token):  # gunicorn's module:app
            yield token, _module_file(token.split(":")[0])
        elif token.startswith(f"{APP_DIR}/"):
            yield token, str(PurePosixPath(token).relative_to(APP_DIR))
        elif token.endswith((".py", ".sh")) and not token.startswith("/"):
            yield token, token


def _module_file(module: str) -> str:
    path = ROOT.joinpath(*module.split("."))
    return (
        (path / "__main__.py" if path.is_dir() else path.with_suffix(".py"))
        .relative_to(ROOT)
        .as_posix()
    )


def _exec_form(args: str) -> list[str]:
    """The argv of a CMD, ENTRYPOINT or COPY, in JSON (exec) or shell form."""
    return json.loads(args) if args.startswith("[") else shlex.split(args)


def _healthcheck_argv(args: str) -> list[str]:
    """The command of a ``HEALTHCHECK [OPTIONS] CMD command`` instruction."""
    return _exec_form(args.split(" CMD ", 1)[1]) if " CMD " in f" {args}" else []


def _build_args(instructions: list[Instruction]) -> dict[str, str]:
    args = {}
    for instruction in instructions:
        if instruction.keyword == "ARG" and "=" in instruction.args:
            name, value = instruction.args.split("=", 1)
            args[name] = value
    return args


def _dockerfile_env(path: Path) -> dict[str, str]:
    env = {}
    for instruction in parse_dockerfile(path):
        if instruction.keyword == "ENV":
            for word in shlex.split(instruction.args):
                if "=" in word:
                    name, value = word.split("=", 1)
                    env[name] = value
    return env


def _expand(value: str, env: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: env[m.group(1) or m.group(2)], value)


def _image_defaults(services: dict, name: str) -> tuple[list[str], list[str]]:
    instructions = parse_dockerfile(built_dockerfiles(services)[name])
    cmd, entrypoint = last(instructions, "CMD"), last(instructions, "ENTRYPOINT")
    return (_exec_form(cmd) if cmd else []), (_exec_form(entrypoint) if entrypoint else [])


def _index_of(items, predicate) -> int | None:
    return next((i for i, item in enumerate(items) if predicate(item)), None)


# --------------------------------------------------------------------------------------------------
# compose helpers


def _named_volume_mounts(service: dict) -> list[tuple[str, str]]:
    """(volume name, container path) for each named volume (not bind mount) of a service."""
    mounts = []
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            if volume.get("type") == "volume":
                mounts.append((volume["source"], volume["target"]))
            continue
        source, target = volume.split(":")[:2]
        if not source.startswith((".", "/", "~")):
            mounts.append((source, target))
    return mounts


def effective_env(service: dict) -> dict[str, str]:
    """The variables a service gets as committed, with compose's precedence: env files in order
    (a later one wins), then ``environment``. Optional env files (an operator's local overrides,
    not part of the repository) are left out."""
    env: dict[str, str] = {}
    for entry in service.get("env_file", []):
        path, required = _env_file_entry(entry)
        if required:
            env |= _read_env_file(ROOT / path)
    return env | {k: str(v) for k, v in service.get("environment", {}).items()}


def _env_file_entry(entry: str | dict) -> tuple[str, bool]:
    """(path relative to the repo root, required) of one ``env_file`` entry."""
    if isinstance(entry, str):
        return PurePosixPath(entry).as_posix(), True
    return PurePosixPath(entry["path"]).as_posix(), entry.get("required", True)


def _read_env_file(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name.strip()] = value.strip()
    return env


def _redis_options(command: list[str]) -> dict[str, str]:
    options, name = {}, None
    for word in command[1:]:
        if word.startswith("--"):
            name = word[2:]
            options[name] = ""
        elif name is not None:
            options[name] = f"{options[name]} {word}".strip()
    return options


def _env_name(field: str) -> str:
    return f"MRIMESH_{field.upper()}"


# --------------------------------------------------------------------------------------------------
# nginx.conf parsing and location matching (enough of nginx's rules for this file)


@dataclasses.dataclass
class Directive:
    name: str
    args: list[str]
    block: list[Directive] | None = None

    def find(self, name: str) -> list[Directive]:
        return [d for d in self.block or [] if d.name == name]


def parse_nginx(text: str) -> list[Directive]:
    tokens = re.findall(r"\"(?:\\.|[^\"])*\"|'(?:\\.|[^'])*'|#[^\n]*|[{};]|[^\s{};]+", text)
    tokens = [t[1:-1] if t[:1] in "\"'" else t for t in tokens if not t.startswith("#")]
    stack: list[list[Directive]] = [[]]
    words: list[str] = []
    for token in tokens:
        if token == ";":
            stack[-1].append(Directive(words[0], words[1:]))
            words = []
        elif token == "{":
            directive = Directive(words[0], words[1:], [])
            stack[-1].append(directive)
            stack.append(directive.block)
            words = []
        elif token == "}":
            stack.pop()
        else:
            words.append(token)
    assert len(stack) == 1 and not words, "unbalanced nginx.conf"
    return stack[0]


def _server(nginx: list[Directive]) -> Directive:
    (http,) = [d for d in nginx if d.name == "http"]
    (server,) = http.find("server")
    return server


def match_location(server: Directive, uri: str) -> Directive | None:
    """The location nginx picks for ``uri``: exact, then ^~ prefix, then regexes, then prefix."""
    prefix: Directive | None = None
    for location in server.find("location"):
        modifier, pattern = location.args if len(location.args) == 2 else ["", location.args[0]]
        if modifier == "=" and uri == pattern:
            return location
        longer = prefix is None or len(pattern) > len(prefix.args[-1])
        if modifier in {"", "^~"} and uri.startswith(pattern) and longer:
            prefix = location
    if prefix is not None and prefix.args[0] == "^~":
        return prefix
    for location in server.find("location"):
        if location.args[0] in {"~", "~*"}:
            flags = re.IGNORECASE if location.args[0] == "~*" else 0
            if re.search(location.args[1], uri, flags):
                return location
    return prefix


def _proxy_target(nginx: list[Directive], uri: str) -> str | None:
    server = _server(nginx)
    location = match_location(server, uri)
    if location is None or not location.find("proxy_pass"):
        return None
    target = location.find("proxy_pass")[0].args[0]
    for variable in server.find("set") + location.find("set"):
        target = target.replace(variable.args[0], variable.args[1])
    return target


def _setting(location: Directive, server: Directive, name: str) -> str | None:
    for scope in (location, server):
        found = scope.find(name)
        if found:
            return found[0].args[0]
    return None


def nginx_size(value: str) -> int:
    units = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
    number, unit = re.fullmatch(r"(\d+)([kmg]?)", value.lower()).groups()
    return int(number) * units[unit]


# --------------------------------------------------------------------------------------------------
# .dockerignore matching (Docker's rules: patterns anchored at the context root, ** spans
# directories, a match on a parent excludes its contents, later ! lines re-include)


@dataclasses.dataclass(frozen=True)
class DockerIgnore:
    rules: tuple[tuple[bool, re.Pattern[str]], ...]

    @classmethod
    def load(cls, path: Path) -> DockerIgnore:
        rules = []
        for line in path.read_text().splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            negate = line.startswith("!")
            pattern = line.lstrip("!").strip("/")
            rules.append((negate, re.compile(_glob_to_regex(pattern))))
        return cls(tuple(rules))

    def excludes(self, path: str) -> bool:
        parts = PurePosixPath(path).parts
        candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        excluded = False
        for negate, regex in self.rules:
            if any(regex.fullmatch(c) for c in candidates):
                excluded = not negate
        return excluded


def _glob_to_regex(pattern: str) -> str:
    """Docker's glob as a regex: * and ? stay inside one path segment, a ** segment spans any."""
    segments = []
    for segment in pattern.split("/"):
        if segment == "**":
            segments.append(".*")
            continue
        regex = ""
        for char in segment:
            regex += {"*": "[^/]*", "?": "[^/]"}.get(char) or re.escape(char)
        segments.append(regex)
    return "/".join(segments).replace(".*/", "(?:.*/)?")
