package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	inventoryv1alpha1 "github.com/slotsync/slotsync/api/v1alpha1"
)

// ScheduleState answers the sync routes: the schedule's paused state and what
// its controller last reported.
type ScheduleState struct {
	Namespace string `json:"namespace"`
	Schedule  string `json:"schedule"`
	// Paused is spec.paused. The Paused condition follows once the controller
	// has acted on it (observedGeneration reaches generation).
	Paused             bool               `json:"paused"`
	Generation         int64              `json:"generation"`
	ObservedGeneration int64              `json:"observedGeneration"`
	Conditions         []metav1.Condition `json:"conditions"`
	Windows            []ScheduleWindow   `json:"windows"`
	// DemandPerMinute is the partner requests per minute the windows need, as
	// computed by the controller; empty until it has.
	DemandPerMinute string `json:"demandPerMinute,omitempty"`
	// BudgetPerMinute is the partner key's requests per minute.
	BudgetPerMinute int32        `json:"budgetPerMinute"`
	LastSyncTime    *metav1.Time `json:"lastSyncTime"`
}

// ScheduleWindow is a window of the spec with its last and next runs.
type ScheduleWindow struct {
	Name               string                       `json:"name"`
	Days               int32                        `json:"days"`
	Every              string                       `json:"every"`
	LastScheduleTime   *metav1.Time                 `json:"lastScheduleTime"`
	LastSuccessfulTime *metav1.Time                 `json:"lastSuccessfulTime"`
	NextScheduleTime   *metav1.Time                 `json:"nextScheduleTime"`
	ActiveJob          string                       `json:"activeJob,omitempty"`
	LastRun            *inventoryv1alpha1.RunCounts `json:"lastRun,omitempty"`
}

func stateOf(ss *inventoryv1alpha1.SyncSchedule) ScheduleState {
	st := ScheduleState{
		Namespace:          ss.Namespace,
		Schedule:           ss.Name,
		Paused:             ss.Spec.Paused,
		Generation:         ss.Generation,
		ObservedGeneration: ss.Status.ObservedGeneration,
		Conditions:         ss.Status.Conditions,
		Windows:            make([]ScheduleWindow, 0, len(ss.Spec.Windows)),
		DemandPerMinute:    ss.Status.DemandPerMinute,
		BudgetPerMinute:    ss.Status.BudgetPerMinute,
		LastSyncTime:       ss.Status.LastSyncTime,
	}
	if st.Conditions == nil {
		st.Conditions = []metav1.Condition{}
	}
	if st.BudgetPerMinute == 0 {
		st.BudgetPerMinute = ss.Spec.Partner.RequestsPerMinute
	}
	for _, w := range ss.Spec.Windows {
		sw := ScheduleWindow{Name: w.Name, Days: w.Days, Every: w.Every.Duration.String()}
		for _, ws := range ss.Status.Windows {
			if ws.Name == w.Name {
				sw.LastScheduleTime, sw.LastSuccessfulTime, sw.NextScheduleTime = ws.LastScheduleTime, ws.LastSuccessfulTime, ws.NextScheduleTime
				sw.ActiveJob, sw.LastRun = ws.ActiveJob, ws.LastRun
			}
		}
		st.Windows = append(st.Windows, sw)
	}
	return st
}

func (s *Server) syncStatus(w http.ResponseWriter, r *http.Request) error {
	name, err := s.scheduleRequest(r)
	if err != nil {
		return err
	}
	if _, err := s.authorize(r.Context(), r, verbGet, name); err != nil {
		return err
	}
	ss, err := s.getSchedule(r.Context(), name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, stateOf(ss))
	return nil
}

func (s *Server) pause(w http.ResponseWriter, r *http.Request) error {
	return s.setPaused(w, r, true)
}

func (s *Server) resume(w http.ResponseWriter, r *http.Request) error {
	return s.setPaused(w, r, false)
}

// setPaused applies spec.paused as the field manager slotsync-api, forcing
// ownership: the API's latest word on the pause wins over whoever set it
// before, and a later apply by another manager that leaves the field out
// keeps it. Applying the value it already has changes nothing. The caller
// needs the verb pause or resume, not patch: the apply is the API's own.
func (s *Server) setPaused(w http.ResponseWriter, r *http.Request, paused bool) error {
	ctx := r.Context()
	name, err := s.scheduleRequest(r)
	if err != nil {
		return err
	}
	verb := verbResume
	if paused {
		verb = verbPause
	}
	user, err := s.authorize(ctx, r, verb, name)
	if err != nil {
		return err
	}
	// An apply to a missing object would try to create it.
	if _, err := s.getSchedule(ctx, name); err != nil {
		return err
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": inventoryv1alpha1.GroupVersion.String(),
		"kind":       "SyncSchedule",
		"metadata":   map[string]any{"name": name.Name, "namespace": name.Namespace},
		"spec":       map[string]any{"paused": paused},
	}}
	err = s.kube.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(FieldManager), client.ForceOwnership)
	if apierrors.IsNotFound(err) {
		return errorf(http.StatusNotFound, "SyncSchedule %q not found in namespace %q", name.Name, name.Namespace).withProblem(problemScheduleNotFound)
	}
	if err != nil {
		return kubeError(err, "apply spec.paused")
	}
	var ss inventoryv1alpha1.SyncSchedule
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &ss); err != nil {
		return internal(err, "internal error reading the applied SyncSchedule")
	}
	logr.FromContextOrDiscard(ctx).Info("spec.paused applied", "schedule", name.String(), "paused", paused,
		"user", user.Username, "generation", ss.Generation)
	writeJSON(w, http.StatusOK, stateOf(&ss))
	return nil
}

// scheduleRequest reads ?schedule= and checks that the sync routes can work.
func (s *Server) scheduleRequest(r *http.Request) (types.NamespacedName, error) {
	name, err := parseScheduleRequest(r.URL.RawQuery, s.schedule)
	if err != nil {
		return name, err
	}
	if s.kube == nil || s.reviews == nil {
		return name, unavailable(errors.New("no Kubernetes client"), "the sync routes are not configured on this server")
	}
	return name, nil
}

func (s *Server) getSchedule(ctx context.Context, name types.NamespacedName) (*inventoryv1alpha1.SyncSchedule, error) {
	var ss inventoryv1alpha1.SyncSchedule
	err := s.kube.Get(ctx, name, &ss)
	if apierrors.IsNotFound(err) {
		return nil, errorf(http.StatusNotFound, "SyncSchedule %q not found in namespace %q: check ?schedule= or the API's --schedule", name.Name, name.Namespace).withProblem(problemScheduleNotFound)
	}
	if err != nil {
		return nil, kubeError(err, "get the SyncSchedule")
	}
	return &ss, nil
}
