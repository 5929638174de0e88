# Shared by ab.sh and validate.sh: unpack main's kernels (b6d929c, .devbuild/s43) as /tmp/b/main and
# each .devbuild/s46/bins_X.tar.xz as /tmp/b/X; step LIMIT LOG CMD... logs into /tmp/w and packs it
# into $OUT after every step.
S=.devbuild/s46; W=/tmp/w; mkdir -p $W /tmp/b
pack() { tar -C /tmp -cf - w | xz -1 > $OUT/w.tar.xz.tmp && mv $OUT/w.tar.xz.tmp $OUT/w.tar.xz; }
step() { local lim=$1 log=$2; shift 2; echo "\$ $*" >> $W/$log; local t0=$SECONDS; timeout -s KILL $lim "$@" >> $W/$log 2>&1; local rc=$?; echo "rc=$rc wall=$((SECONDS - t0)) s" >> $W/$log; echo "$log rc=$rc $((SECONDS - t0)) s" >> $W/steps.txt; pack; }
if [ ! -x /tmp/b/main/fa-bench ]; then
  xz -d -c .devbuild/s43/bins.tar.xz | tar -C /tmp/b -xf - && mv /tmp/b/tail /tmp/b/main
  for f in $S/bins_*.tar.xz; do xz -d -c $f | tar -C /tmp/b -xf -; done
fi
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,temperature.gpu,power.limit --format=csv > $W/gpu.txt
for x in /tmp/b/*/; do $x/fa-bench --version >> $W/gpu.txt; done
