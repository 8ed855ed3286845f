# Custom worker container for Dataflow GPU workers (and the Flex Template launcher image).
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

# Dataflow starts workers through Beam's boot program, which the base image holds.
ENTRYPOINT ["/opt/apache/beam/boot"]
