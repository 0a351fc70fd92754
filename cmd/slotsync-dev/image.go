package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/slotsync/slotsync/internal/imagebuild"
)

func newImageCmd() *cobra.Command {
	var slotsync, repo, out string
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Build the slotsync and pause images into a docker-archive, without a container daemon",
		Long: `image writes a docker-archive holding two images, for ctr -n k8s.io images import:

  ` + imagebuild.SlotsyncImage + `  the production binary (--slotsync) on what the Dockerfile's base gives it:
                user and group 65532, CA certificates and time zone data from this
                machine, /tmp; the Dockerfile's USER, ENTRYPOINT and LABELs
  ` + imagebuild.PauseImage + `  the pod sandbox, a static Go program that waits for SIGTERM

The real dev node (slotsync-dev dev --node real) imports them, since it can pull nothing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			bin, err := slotsyncBinary(slotsync)
			if err != nil {
				return err
			}
			if err := imagebuild.DevArchive(cmd.Context(), abs(repo), bin, abs(out)); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s and %s to %s\n", imagebuild.SlotsyncImage, imagebuild.PauseImage, out)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&slotsync, "slotsync", defaultSlotsync, "the static production slotsync binary")
	f.StringVar(&repo, "repo", ".", "the slotsync checkout, to build the pause program")
	f.StringVar(&out, "out", "bin/images.tar", "the docker-archive to write")
	return cmd
}
