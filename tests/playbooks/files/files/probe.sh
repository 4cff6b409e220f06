#!/bin/sh
# Run by the `script` module: records its arguments and where it ran.
echo "args=$# first=$1 second=$2 cwd=$(pwd)" > "$3"
echo "probe ran"
