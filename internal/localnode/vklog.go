package localnode

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/go-logr/logr"
	vklog "github.com/virtual-kubelet/virtual-kubelet/log"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// vkLogger lets the virtual-kubelet library log through our logr logger. The
// library is chatty at info and warning level about routine work (every
// status sync, every skipped finished pod), so those become V(1) and debug
// V(2); its errors stay errors.
type vkLogger struct {
	l   logr.Logger
	err error
}

var _ vklog.Logger = vkLogger{}

func (v vkLogger) Debug(args ...any)            { v.l.V(2).Info(fmt.Sprint(args...)) }
func (v vkLogger) Debugf(f string, args ...any) { v.l.V(2).Info(fmt.Sprintf(f, args...)) }
func (v vkLogger) Info(args ...any)             { v.l.V(1).Info(fmt.Sprint(args...)) }
func (v vkLogger) Infof(f string, args ...any)  { v.l.V(1).Info(fmt.Sprintf(f, args...)) }
func (v vkLogger) Warn(args ...any)             { v.l.V(1).Info(fmt.Sprint(args...), v.errKV()...) }
func (v vkLogger) Warnf(f string, args ...any)  { v.l.V(1).Info(fmt.Sprintf(f, args...), v.errKV()...) }
func (v vkLogger) Error(args ...any)            { v.error(fmt.Sprint(args...)) }
func (v vkLogger) Errorf(f string, args ...any) { v.error(fmt.Sprintf(f, args...)) }

// error keeps errors the library retries by itself out of the error log: a
// status write racing the informer (a conflict) and work cut short at
// shutdown.
func (v vkLogger) error(msg string) {
	if apierrors.IsConflict(v.err) || errors.Is(v.err, context.Canceled) {
		v.l.V(1).Info(msg, v.errKV()...)
		return
	}
	v.l.Error(v.err, msg)
}

// Fatal is logged as an error: a library must not end the process that
// owns the pods' processes.
func (v vkLogger) Fatal(args ...any)            { v.Error(args...) }
func (v vkLogger) Fatalf(f string, args ...any) { v.Errorf(f, args...) }

func (v vkLogger) WithField(k string, val any) vklog.Logger {
	return vkLogger{l: v.l.WithValues(k, val), err: v.err}
}

func (v vkLogger) WithFields(fields vklog.Fields) vklog.Logger {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	kv := make([]any, 0, 2*len(fields))
	for _, k := range keys {
		kv = append(kv, k, fields[k])
	}
	return vkLogger{l: v.l.WithValues(kv...), err: v.err}
}

func (v vkLogger) WithError(err error) vklog.Logger { return vkLogger{l: v.l, err: err} }

func (v vkLogger) errKV() []any {
	if v.err == nil {
		return nil
	}
	return []any{"error", v.err.Error()}
}
