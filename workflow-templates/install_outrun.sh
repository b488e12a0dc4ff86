# Installs outrun into $HOME/.outrun/bin, one of three ways ($OUTRUN_INSTALL):
#   release  the release binary $OUTRUN_ASSET from $OUTRUN_DOWNLOAD, checked against
#            $OUTRUN_SHA256 (pinned by whoever wrote this step) before it is unpacked or run;
#   source   `cargo install --locked --path "$OUTRUN_SOURCE"` (a checkout of outrun itself);
#   crates   `cargo install --locked --version "$OUTRUN_VERSION" outrun` from crates.io.
# Shared by the generated workflows (embedded) and action.yml. Every value comes from `env:`.
set -euo pipefail
bin="$HOME/.outrun/bin"
mkdir -p "$bin"
case "$OUTRUN_INSTALL" in
  release)
    tmp="$(mktemp -d)"
    curl --fail --silent --show-error --location --retry 3 \
      --output "$tmp/$OUTRUN_ASSET" "$OUTRUN_DOWNLOAD/$OUTRUN_ASSET"
    if command -v sha256sum > /dev/null; then
      got="$(sha256sum "$tmp/$OUTRUN_ASSET" | cut -d' ' -f1)"
    else
      got="$(shasum -a 256 "$tmp/$OUTRUN_ASSET" | cut -d' ' -f1)"
    fi
    if [ "$got" != "$OUTRUN_SHA256" ]; then
      echo "::error::$OUTRUN_ASSET: SHA-256 $got, expected $OUTRUN_SHA256; not installed"
      rm -rf "$tmp"
      exit 1
    fi
    tar -xzf "$tmp/$OUTRUN_ASSET" -C "$tmp" outrun
    install -m 0755 "$tmp/outrun" "$bin/outrun"
    rm -rf "$tmp"
    ;;
  source)
    cargo install --locked --path "$OUTRUN_SOURCE" --root "$HOME/.outrun"
    ;;
  crates)
    cargo install --locked --version "$OUTRUN_VERSION" --root "$HOME/.outrun" outrun
    ;;
  *)
    echo "::error::unknown OUTRUN_INSTALL '$OUTRUN_INSTALL' (release, source or crates)"
    exit 1
    ;;
esac
"$bin/outrun" --version
