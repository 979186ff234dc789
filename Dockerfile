# One image for every Vigil process: `vigil serve` (control room), `vigil worker` (cameras), and the CLI.
FROM python:3.11-slim

# OpenCV's runtime libraries (PyAV, dlib-bin and ONNX Runtime bring their own); Pango and a Devanagari
# font for WeasyPrint's evidence-pack PDFs (English and Hindi).
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 libpango-1.0-0 libpangoft2-1.0-0 fonts-lohit-deva \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/vigil
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir .

RUN useradd --system --create-home --home-dir /var/lib/vigil vigil
USER vigil
ENV VIGIL_DATA_DIR=/var/lib/vigil
# Convert dlib's face descriptor to ONNX once, at build time, so no container converts it at start.
RUN python -c "from vigil.settings import VigilSettings; from vigil.vision.engine import FaceEngine; FaceEngine.from_settings(VigilSettings()).prepare()"

EXPOSE 8000
ENTRYPOINT ["vigil"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
