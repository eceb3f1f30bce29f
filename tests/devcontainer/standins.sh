# Sourced by run.sh: stand-ins for the two images this machine cannot pull, tagged with the names the kit uses.
# Each is built once per set of inputs (their hash is the image's label and the cached tarball's name).
# How faithful each one is: docs/setup.md, "How the devcontainer is tested".

STANDIN_SUITE=trixie
DEBIAN_MIRROR=http://deb.debian.org/debian
# What the official python:*-slim image installs next to its Python (its runtime libraries, certificates, zones).
PYTHON_PACKAGES=ca-certificates,netbase,tzdata,libssl3t64,libsqlite3-0,libffi8,libbz2-1.0,liblzma5,libreadline8t64,libncursesw6,libuuid1,zlib1g,libexpat1,libcrypt1,libnsl2
KAFKA_PACKAGES=openjdk-21-jre-headless

# Print a short hash of files (by content) and strings.
inputs_hash() {
  local item
  for item in "$@"; do
    if [ -f "$item" ]; then sha256sum < "$item"; else printf '%s\n' "$item"; fi
  done | sha256sum | cut -c1-16
}

# Make image $1 exist in the engine for inputs hash $2: as it is, from the cached tarball, or built by function $3.
provide_image() {
  local tag=$1 hash=$2 build=$3 name tarball
  name=$(printf '%s' "$tag" | tr -c 'a-zA-Z0-9.-' '_')
  tarball="$CACHE/images/$name-$hash.tar"
  if [ "$(docker image inspect --format '{{index .Config.Labels "clickkit.standin"}}' "$tag" 2>/dev/null)" = "$hash" ]; then
    say "stand-in $tag: in the engine already (inputs $hash)"
    return
  fi
  if [ ! -f "$tarball" ]; then
    say "stand-in $tag: building its root file system (inputs $hash)..."
    mkdir -p "$CACHE/images"
    rm -f "$CACHE/images/$name-"*.tar  # the tarballs of earlier inputs
    rm -rf "$RUN/rootfs"
    "$build" "$RUN/rootfs"
    tar --numeric-owner -C "$RUN/rootfs" -cf "$tarball.part" .
    mv "$tarball.part" "$tarball"
    rm -rf "$RUN/rootfs"
  fi
  say "stand-in $tag: importing $(basename "$tarball")"
  local changes=()
  "${build}_changes"
  docker import "${changes[@]}" --change "LABEL clickkit.standin=$hash" "$tarball" "$tag" >/dev/null
}

# A CPython 3.11 installed under a prefix of its own (pyenv's, or one built from source), to copy into /usr/local.
host_python_prefix() {
  local prefix
  prefix=$(python3.11 -c 'import sys; print(sys.base_prefix)' 2>/dev/null) || return 1
  [ "$prefix" != /usr ] && [ -x "$prefix/bin/python3.11" ] && [ -f "$prefix/lib/libpython3.11.so.1.0" ] \
    && printf '%s\n' "$prefix"
}

python_standin_hash() {
  local prefix=$1
  inputs_hash "$HERE/standins.sh" "$PYTHON_IMAGE" "$prefix" "$("$prefix/bin/python3.11" -VV)" \
    "$prefix/lib/libpython3.11.so.1.0" /usr/local/share/ca-certificates/*.crt
}

# python:3.11.N-slim-trixie: Debian trixie (minbase) with this machine's CPython 3.11 in /usr/local, as the
# official image keeps its own build there, and pip. It trusts this machine's extra CA certificates.
python_standin() {
  local root=$1 prefix
  prefix=$(host_python_prefix)
  mmdebstrap --quiet --variant=minbase --include="$PYTHON_PACKAGES" "$STANDIN_SUITE" "$root" "$DEBIAN_MIRROR"
  # The interpreter, its library and headers; of the installed packages only pip and setuptools, as upstream.
  tar -C "$prefix" -c --exclude='lib/python3.11/test' --exclude='lib/python3.11/site-packages/*' \
      --exclude='lib/python3.11/config-3.11-*/*.a' --exclude='__pycache__' \
      bin/python3.11 bin/python3 bin/python bin/pip3.11 bin/pip3 bin/pip lib/libpython3.11.so.1.0 \
      lib/libpython3.11.so lib/libpython3.so lib/python3.11 include \
    | tar -C "$root/usr/local" -x
  (cd "$prefix/lib/python3.11/site-packages" \
    && tar -c pip pip-*.dist-info setuptools setuptools-*.dist-info pkg_resources _distutils_hack \
         distutils-precedence.pth) | tar -C "$root/usr/local/lib/python3.11/site-packages" -x
  # Scripts and build settings name the prefix the interpreter was built for.
  sed -i "1s|^#!.*|#!/usr/local/bin/python3.11|" "$root"/usr/local/bin/pip*
  sed -i "s|$prefix|/usr/local|g" "$root"/usr/local/lib/python3.11/_sysconfigdata_*.py
  chroot "$root" ldconfig
  cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/" 2>/dev/null || true
  chroot "$root" update-ca-certificates >/dev/null
  chroot "$root" python3 -c 'import ssl, sqlite3, ctypes, lzma, bz2, readline, venv, ensurepip'
}

python_standin_changes() {
  local bundle=/etc/ssl/certs/ca-certificates.crt
  changes=(--change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin'
           --change 'ENV LANG=C.UTF-8'
           --change "ENV PYTHON_VERSION=$(chroot_python_version)"
           # This machine reaches the registries through a TLS proxy: the clients inside must trust its CA.
           --change "ENV SSL_CERT_FILE=$bundle" --change "ENV PIP_CERT=$bundle"
           --change "ENV REQUESTS_CA_BUNDLE=$bundle" --change "ENV NODE_EXTRA_CA_CERTS=$bundle"
           --change 'CMD ["python3"]')
}

chroot_python_version() {
  "$(host_python_prefix)/bin/python3.11" -c 'import platform; print(platform.python_version())'
}

kafka_standin_hash() {
  inputs_hash "$HERE/standins.sh" "$KAFKA_IMAGE" "$HERE/kafka/run" "$HERE/kafka/kafka-tool" \
    "$HERE/kafka/log4j2.properties" "$HERE/kafka/tools-log4j2.properties" "$(ls "$KAFKA_LIBS")"
}

# apache/kafka:N: Debian trixie (minbase) with Debian's OpenJDK 21, Kafka's jars from Maven Central (the ones
# `make kafka-up` runs), a launcher that runs the image's set-up code from those jars, and the tools the kit uses.
kafka_standin() {
  local root=$1 tool
  mmdebstrap --quiet --variant=minbase --include="$KAFKA_PACKAGES" "$STANDIN_SUITE" "$root" "$DEBIAN_MIRROR"
  mkdir -p "$root/opt/kafka/libs" "$root/opt/kafka/bin" "$root/opt/kafka/config" "$root/etc/kafka/docker/defaults" \
           "$root/mnt/shared/config" "$root/var/lib/kafka/data"
  cp "$KAFKA_LIBS"/*.jar "$root/opt/kafka/libs/"
  cp "$HERE/kafka/log4j2.properties" "$HERE/kafka/tools-log4j2.properties" "$root/opt/kafka/config/"
  install -m 0755 "$HERE/kafka/run" "$root/etc/kafka/docker/run"
  install -m 0755 "$HERE/kafka/kafka-tool" "$root/opt/kafka/bin/kafka-tool"
  for tool in kafka-topics.sh kafka-storage.sh kafka-console-producer.sh kafka-console-consumer.sh \
              kafka-consumer-groups.sh kafka-run-class.sh; do
    ln -s kafka-tool "$root/opt/kafka/bin/$tool"
  done
  # The official image runs as appuser (uid 1000), who owns the data folder and the configuration.
  chroot "$root" useradd --uid 1000 --no-create-home --home-dir /opt/kafka --shell /bin/bash appuser
  chroot "$root" chown -R appuser /var/lib/kafka /opt/kafka/config /mnt/shared/config
}

kafka_standin_changes() {
  changes=(--change 'ENV PATH=/opt/kafka/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
           --change 'USER appuser' --change 'WORKDIR /opt/kafka' --change 'EXPOSE 9092'
           --change 'CMD ["/etc/kafka/docker/run"]')
}
