// Command composecheck loads Compose files with the official Compose loader (compose-spec/compose-go,
// the library `docker compose` itself uses): .env and OS environment, interpolation, schema validation,
// normalization and consistency checks, like `docker compose config`, without a Docker engine.
//
//	composecheck [-format yaml|json] [-strict] [-env KEY=VALUE]... [-env-file FILE]... FILE...
//
// It prints the normalized project on stdout and exits 0, or prints the loader's errors on stderr and
// exits 1 (2 for bad usage). Loader warnings (an unset variable without a default, an obsolete
// `version:`) go to stderr; with -strict any warning is an error. -env values win over the OS environment.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/sirupsen/logrus"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// warningCounter counts what the loader logs at warning level or above.
type warningCounter struct {
	mu       sync.Mutex
	messages []string
}

func (w *warningCounter) Levels() []logrus.Level {
	return []logrus.Level{logrus.PanicLevel, logrus.FatalLevel, logrus.ErrorLevel, logrus.WarnLevel}
}

func (w *warningCounter) Fire(e *logrus.Entry) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.messages = append(w.messages, e.Message)
	return nil
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("composecheck", flag.ContinueOnError)
	format := fs.String("format", "yaml", "output format of the normalized project: yaml or json")
	strict := fs.Bool("strict", false, "fail on loader warnings (e.g. an unset variable without a default)")
	var envs, envFiles listFlag
	fs.Var(&envs, "env", "KEY=VALUE for interpolation (repeatable); wins over the OS environment")
	fs.Var(&envFiles, "env-file", "env file for interpolation (repeatable); default: .env next to the first file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	files := fs.Args()
	if len(files) == 0 || (*format != "yaml" && *format != "json") {
		fmt.Fprintln(os.Stderr, "usage: composecheck [-format yaml|json] [-strict] [-env KEY=VALUE]... [-env-file FILE]... FILE...")
		return 2
	}

	warnings := &warningCounter{}
	logrus.SetOutput(os.Stderr)
	logrus.AddHook(warnings)

	// The working directory is the first file's directory, as `docker compose -f FILE` does.
	workdir, err := filepath.Abs(filepath.Dir(files[0]))
	if err != nil {
		fmt.Fprintf(os.Stderr, "composecheck: %v\n", err)
		return 1
	}
	// The options in the order `docker compose` applies them: OS environment, then env files (the
	// default .env when none is given), then -env.
	options, err := cli.NewProjectOptions(files,
		cli.WithWorkingDirectory(workdir),
		cli.WithOsEnv,
		cli.WithEnvFiles(envFiles...),
		cli.WithDotEnv,
		cli.WithEnv(envs),
		cli.WithInterpolation(true),
		cli.WithNormalization(true),
		cli.WithConsistency(true),
		cli.WithResolvedPaths(true),
	)
	if err != nil {
		fmt.Fprintf(os.Stderr, "composecheck: %v\n", err)
		return 1
	}
	project, err := options.LoadProject(context.Background())
	if err != nil {
		fmt.Fprintf(os.Stderr, "composecheck: %s: %v\n", strings.Join(files, ", "), err)
		return 1
	}

	var out []byte
	if *format == "json" {
		out, err = project.MarshalJSON()
	} else {
		out, err = project.MarshalYAML()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "composecheck: cannot print the project: %v\n", err)
		return 1
	}
	os.Stdout.Write(out)
	if *format == "json" {
		fmt.Println()
	}
	if *strict && len(warnings.messages) > 0 {
		fmt.Fprintf(os.Stderr, "composecheck: %d warning(s) and -strict: %s\n", len(warnings.messages),
			strings.Join(warnings.messages, "; "))
		return 1
	}
	return 0
}
