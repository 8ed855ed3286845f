# Custom worker container for Dataflow workers, and the Flex Template launcher image: one image
# serves both (README, "Runs on a schedule").
#
#   docker build -t REGION-docker.pkg.dev/PROJECT/REPO/b4-embeddings:latest .
#
# Beam's boot program and SDK come from the SDK image that matches setup.py's apache-beam pin;
# TensorFlow brings CUDA and cuDNN as pip wheels ([and-cuda]), so no CUDA base image is needed.
# The NVIDIA driver is installed on the worker VM by Dataflow (install-nvidia-driver).
FROM apache/beam_python3.11_sdk:2.77.0

WORKDIR /opt/b4-embeddings
COPY setup.py README.md ./
COPY pipeline ./pipeline
COPY transforms ./transforms

RUN pip install --no-cache-dir "tensorflow[and-cuda]==2.21.0" . \
    && pip check \
    && python -c "import tensorflow_hub, transforms.model, pipeline.run"

# Pillow-SIMD decodes and resizes at about twice Pillow's speed per vCPU, and on a GPU worker the
# vCPUs' decoding is what feeds the model (README, "Faster decoding"). It is built into a folder
# of its own, first on PYTHONPATH; Pillow stays installed for the packages that require it.
COPY tools/install-pillow-simd ./tools/
RUN apt-get update \
    && apt-get install -y --no-install-recommends $(tools/install-pillow-simd --debian-packages) \
    && rm -rf /var/lib/apt/lists/* \
    && tools/install-pillow-simd /opt/pillow-simd python
ENV PYTHONPATH=/opt/pillow-simd${PYTHONPATH:+:$PYTHONPATH}

# The Flex Template launcher runs the command (pipeline/run.py) with the template's parameters.
COPY --from=gcr.io/dataflow-templates-base/python311-template-launcher-base:latest \
    /opt/google/dataflow/python_template_launcher /opt/google/dataflow/python_template_launcher
ENV FLEX_TEMPLATE_PYTHON_PY_FILE=/opt/b4-embeddings/pipeline/run.py

# Dataflow starts workers through Beam's boot program, which the base image holds.
ENTRYPOINT ["/opt/apache/beam/boot"]
