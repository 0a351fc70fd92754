package controllers_test

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	inventoryv1alpha1 "github.com/slotsync/slotsync/api/v1alpha1"
)

// maxArgLength is Linux's MAX_ARG_STRLEN: exec fails on a longer argument.
const maxArgLength = 128 << 10

// TestLargestScheduleStarts: a schedule at the schema's maximum of products, each
// ID as long as an ID can be, gets a Job the API server accepts, whose argument
// the worker can be started with and parses back; one product more is refused.
func TestLargestScheduleStarts(t *testing.T) {
	const maxProducts = 1000
	h := start(t, t0)
	products := make([]int64, maxProducts)
	for i := range products {
		products[i] = math.MaxInt64 - int64(i)
	}
	withProducts := func(ids []int64) func(*inventoryv1alpha1.SyncSchedule) {
		return func(ss *inventoryv1alpha1.SyncSchedule) {
			ss.Spec.Products = ids
			ss.Spec.Windows = []inventoryv1alpha1.Window{{Name: "today", Days: 1, Every: metav1.Duration{Duration: 15 * time.Minute}}}
		}
	}

	tooMany := &inventoryv1alpha1.SyncSchedule{ObjectMeta: metav1.ObjectMeta{Name: "too-many", Namespace: h.ns}}
	withProducts(append(products, 1))(tooMany)
	tooMany.Spec.Partner = inventoryv1alpha1.PartnerSpec{BaseURL: "http://partner.example:8081",
		APIKeySecretRef: inventoryv1alpha1.SecretKeyRef{Name: "partner", Key: "apiKey"}}
	tooMany.Spec.Database = inventoryv1alpha1.DatabaseSpec{URLSecretRef: inventoryv1alpha1.SecretKeyRef{Name: "db", Key: "url"}}
	if err := h.c.Create(context.Background(), tooMany); err == nil {
		t.Errorf("a schedule of %d products was accepted, want at most %d", maxProducts+1, maxProducts)
	}

	h.schedule(t, "largest", withProducts(products))
	job := h.waitJobs(t, "largest", 1, nil)[0]
	args := job.Spec.Template.Spec.Containers[0].Args
	for _, a := range args {
		if len(a) > maxArgLength {
			t.Errorf("argument %.40s… is %d bytes, exec takes at most %d", a, len(a), maxArgLength)
		}
	}
	// The worker reads its flags with pflag, through cobra.
	fs := pflag.NewFlagSet("sync", pflag.ContinueOnError)
	got := fs.Int64Slice("products", nil, "")
	fs.ParseErrorsAllowlist.UnknownFlags = true
	if err := fs.Parse(args[1:]); err != nil {
		t.Fatalf("parse the Job's arguments: %v", err)
	}
	if len(*got) != maxProducts || (*got)[0] != products[0] || (*got)[maxProducts-1] != products[maxProducts-1] {
		t.Errorf("the Job's --products parse to %d IDs, want the schedule's %d", len(*got), maxProducts)
	}
	if !strings.HasPrefix(args[1], "--products=") {
		t.Errorf("args %.80q do not start with --products", args)
	}
}
