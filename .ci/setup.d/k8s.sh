# tests/k8s.rs, tests/k8s_seccomp.rs and tests/k8s_pod.rs: the rendered manifests checked offline.
# - kubernetes-validate ships the Kubernetes JSON schemas; 1.33.x has 1.33's,
#   the minor k8s-openapi is pinned to in Cargo.toml (feature v1_33);
# - jsonschema checks the agent-sandbox objects against tests/k8s_schema/;
# - python3-seccomp (Debian's libseccomp bindings) compiles and loads the
#   rendered seccomp profile; the tests run it with /usr/bin/python3, not the venv.
K8S_VALIDATE_VERSION=1.33.1
K8S_JSONSCHEMA_VERSION=4.23.0
k8s_pinned() { "$AGENTJAIL_TEST_VENV/bin/pip" show "$1" 2>/dev/null | grep -qx "Version: $2"; }
if ! k8s_pinned kubernetes-validate "$K8S_VALIDATE_VERSION" || ! k8s_pinned jsonschema "$K8S_JSONSCHEMA_VERSION"; then
  "$AGENTJAIL_TEST_VENV/bin/pip" install -q \
    "kubernetes-validate==$K8S_VALIDATE_VERSION" "jsonschema==$K8S_JSONSCHEMA_VERSION"
fi
if ! dpkg -s python3-seccomp >/dev/null 2>&1; then
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-seccomp
fi
# apparmor_parser for the rendered AppArmor profile (tests/k8s_pod.rs): the
# Debian package unpacked into the venv, not installed, so nothing is started
# and no profile is loaded (there is no AppArmor here; the test parses with -QT).
K8S_APPARMOR_VERSION=3.0.8-3
if [ ! -x "$AGENTJAIL_TEST_VENV/apparmor/sbin/apparmor_parser" ]; then
  k8s_deb_dir=$(mktemp -d)
  (cd "$k8s_deb_dir" && { apt-get download -qq "apparmor=$K8S_APPARMOR_VERSION" 2>/dev/null || apt-get download -qq apparmor; })
  dpkg-deb -x "$k8s_deb_dir"/apparmor_*.deb "$AGENTJAIL_TEST_VENV/apparmor"
  rm -rf "$k8s_deb_dir"
fi
