# The peerhub image: the static binary built by `make build` (CGO_ENABLED=0)
# and nothing else. No base image is pulled: this machine has no registry.
# Build with `make image` (or `make up`).
FROM scratch
COPY bin/peerhub /peerhub
# /data (a peer's shared folder) and /state (the directory's database) are
# created owned by the unprivileged user, so named volumes mounted there are
# writable; /samples holds each demo peer's first files.
COPY --chown=65532:65532 deploy/rootfs/ /
COPY --chown=65532:65532 deploy/data/ /samples/
USER 65532:65532
ENTRYPOINT ["/peerhub"]
