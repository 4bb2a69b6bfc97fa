# Sourced by the GPU scripts when they run the binaries packed by bench/pack_devcarry.sh: unpacks
# the shared libraries (packed as one gzip'd tar, a third of their size, so that .devcarry/ stays
# small to copy to a GPU machine) and puts them on the library path. The tar is unpacked beside
# .devcarry/lib and moved into place whole, so a damaged archive leaves no half-filled folder.
if [ -f .devcarry/lib.tgz ] && [ ! -d .devcarry/lib ]; then
  unpack=$(mktemp -d .devcarry/unpack.XXXXXX)
  if ! tar xzf .devcarry/lib.tgz -C "$unpack" || [ ! -d "$unpack/lib" ]; then
    rm -rf "$unpack"
    echo ".devcarry/lib.tgz is damaged or holds no lib/ folder: run bench/pack_devcarry.sh again" >&2
    exit 1
  fi
  mv "$unpack/lib" .devcarry/lib && rm -rf "$unpack"
fi
export LD_LIBRARY_PATH=$PWD/.devcarry/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
