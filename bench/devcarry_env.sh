# Sourced by the GPU scripts when they run the binaries packed by bench/pack_devcarry.sh: unpacks
# the shared libraries (packed as one gzip'd tar, a third of their size, so that .devcarry/ stays
# small to copy to a GPU machine) and puts them on the library path.
if [ -f .devcarry/lib.tgz ] && [ ! -d .devcarry/lib ]; then
  tar xzf .devcarry/lib.tgz -C .devcarry || { echo "could not unpack .devcarry/lib.tgz" >&2; exit 1; }
fi
export LD_LIBRARY_PATH=$PWD/.devcarry/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
