package testredis

import (
	"io"
	"os"
	"os/exec"
)

// watchdog runs redis-server under a shell that kills it (SIGKILL) as soon
// as its standard input reaches end of file: when kill closes the pipe, or
// when the test process ends in any way — the kernel closes the pipe of a
// killed process too, so no redis-server outlives the tests. It then removes
// the directory named by $KIZUNA_TESTREDIS_REMOVE, if any.
const watchdog = `"$0" "$@" & pid=$!; read _ignored; kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null; ` +
	`[ -n "$KIZUNA_TESTREDIS_REMOVE" ] && rm -rf "$KIZUNA_TESTREDIS_REMOVE"; exit 0`

// child is a redis-server started under the watchdog.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
}

// startChild starts bin with args under the watchdog; remove (may be "") is
// a directory the watchdog deletes after the server is gone.
func startChild(bin string, args []string, remove string) (*child, error) {
	cmd := exec.Command("sh", append([]string{"-c", watchdog, bin}, args...)...)
	cmd.Env = append(os.Environ(), "KIZUNA_TESTREDIS_REMOVE="+remove)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &child{cmd: cmd, stdin: stdin}, nil
}

// stop kills redis-server and waits until it is gone.
func (c *child) stop() {
	c.stdin.Close()
	c.cmd.Wait()
}
