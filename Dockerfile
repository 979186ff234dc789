# One image for every Vigil process: `vigil serve` (control room), `vigil worker` (cameras), and the CLI.
#
# BASE_IMAGE: any Debian-based image with Python 3.11 (python3 and its venv module). The default is the
# public python:3.11-slim; a machine that cannot reach an image registry builds its own from Debian's
# packages (deploy/base/, `deploy/rehearse.sh` or docs/deploy.md, "Building offline") and passes it:
#   docker build --build-arg BASE_IMAGE=vigil-base:bookworm -t vigil .
ARG BASE_IMAGE=python:3.11-slim

# The dependency list alone, read from pyproject.toml: the layer that installs it is reused for as long
# as the list is the same, whatever else in pyproject.toml changes.
FROM ${BASE_IMAGE} AS requirements
COPY pyproject.toml /tmp/
RUN python3 -c "import tomllib; print('\n'.join(tomllib.load(open('/tmp/pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt

FROM ${BASE_IMAGE}

# OpenCV's runtime libraries (PyAV, dlib-bin and ONNX Runtime bring their own); Pango and a Devanagari
# font for WeasyPrint's evidence-pack PDFs (English and Hindi). The local base image has them already.
ENV RUNTIME_PACKAGES="libgl1 libglib2.0-0 libgomp1 libpango-1.0-0 libpangoft2-1.0-0 fonts-lohit-deva"
RUN if ! dpkg -s $RUNTIME_PACKAGES >/dev/null 2>&1; then \
        apt-get update \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $RUNTIME_PACKAGES \
        && rm -rf /var/lib/apt/lists/*; \
    fi

# Dependencies first, in their own layer: a change to the source reinstalls only Vigil itself.
ENV VIRTUAL_ENV=/opt/vigil/venv PATH=/opt/vigil/venv/bin:$PATH PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /opt/vigil
COPY --from=requirements /tmp/requirements.txt ./
RUN python3 -m venv $VIRTUAL_ENV \
    && pip install --no-cache-dir -r requirements.txt \
    && find $VIRTUAL_ENV -name __pycache__ -prune -exec rm -rf {} +

# a fixed numeric user, so Kubernetes' runAsNonRoot can check it without a runAsUser
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /var/lib/vigil vigil \
    && mkdir -p /opt/vigil/models && chown vigil /opt/vigil/models
# dlib's face descriptor converted to ONNX once, at build time, so no container converts it at start; kept
# outside the data directory (a volume there does not hide it).
ENV VIGIL_DATA_DIR=/var/lib/vigil VIGIL_MODELS_DIR=/opt/vigil/models

COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir --no-deps --no-compile . && rm -rf build src/*.egg-info

USER 10001:10001
RUN python -c "from vigil.settings import VigilSettings; from vigil.vision.engine import FaceEngine; FaceEngine.from_settings(VigilSettings()).prepare()"

EXPOSE 8000
ENTRYPOINT ["vigil"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
