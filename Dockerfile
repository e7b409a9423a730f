# The fingerspell command line in a container. By default it serves the model mounted at
# /models/model.safetensors on port 8000:
#
#   docker build -t fingerspell .
#   docker run --rm -p 8000:8000 -v "$PWD/runs/<run>:/models:ro" fingerspell
#   curl -F file=@hand.jpg localhost:8000/predict
#
# Any other command runs too, on the host's files as the host's user:
#   docker run --rm --user "$(id -u):$(id -g)" -v "$PWD:/work" -w /work \
#     -e FINGERSPELL_HOME=/work/.fingerspell fingerspell train ...
# The image is bin/make-runtime's installation (a jlink'd Java runtime and the application's jars)
# on Debian's slim image: no JDK, no Maven. `docker stop` sends SIGTERM, on which serve finishes the
# requests under way. .ci/image-check runs this image's final stage without Docker.

FROM maven:3.9-eclipse-temurin-25 AS build
WORKDIR /src
# The poms first, so that a source change reuses the layer of downloaded dependencies.
COPY pom.xml ./
COPY tensor-core/pom.xml tensor-core/
COPY weight-import/pom.xml weight-import/
COPY resnet/pom.xml resnet/
COPY cuda-kernels/pom.xml cuda-kernels/
COPY nd4j-backend/pom.xml nd4j-backend/
COPY train/pom.xml train/
COPY bench/pom.xml bench/
RUN mvn -B -q -pl train -am dependency:go-offline -Dspotless.check.skip=true || true
COPY . .
# bin/make-runtime builds the application (as bin/fingerspell does on first use), then installs it
RUN bin/make-runtime /opt/fingerspell

FROM debian:bookworm-slim
# fontconfig and a font: without them Java2D draws no text, and the plots of train and evaluate
# would have no titles, axes or class names. openssl: the HEALTHCHECK's client for serve --tls-cert.
RUN apt-get update \
  && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    fontconfig fonts-dejavu-core openssl \
  && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/fingerspell /opt/fingerspell
COPY docker/healthcheck /usr/local/bin/fingerspell-healthcheck
RUN useradd --system --create-home --uid 10001 fingerspell \
  && ln -s /opt/fingerspell/bin/fingerspell /usr/local/bin/fingerspell
USER fingerspell
# UTF-8 file names; the weights cache in the user's home (mount a volume there to keep it).
ENV LANG=C.UTF-8 FINGERSPELL_HOME=/home/fingerspell/.cache/fingerspell
EXPOSE 8000
# Healthy while fingerspell runs; for serve, while its /health answers "ok" on the port and scheme
# its options give (--port, --tls-cert). A shell script and openssl, not a JVM per probe.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s CMD fingerspell-healthcheck
ENTRYPOINT ["fingerspell"]
CMD ["serve", "--model", "/models/model.safetensors", "--host", "0.0.0.0"]
