/* speedscope.h: `convert -f speedscope`, speedscope's own JSON file format
 * (https://www.speedscope.app/file-format-schema.json), which speedscope opens with its
 * time order, left heavy and sandwich views, file and line of every frame.
 *
 * One "evented" profile per thread (named "pid P: command / thread" when the trace has
 * several processes), whose weights are the trace's own unit: nanoseconds of its clock
 * for time; and, for a memory trace, one more profile per thread and memory metric
 * (bytes allocated, allocations, bytes live at the peak), in bytes or plain counts.  A
 * trace has no time order between calls, so each frame's own time comes first and its
 * callees follow in first-call order (the flame chart is a chart of the calling-context
 * tree, not of time).  Frames are shared by every profile, one per distinct frame name
 * (so line granularity gives one per call-site line). */
#ifndef PF_SPEEDSCOPE_H
#define PF_SPEEDSCOPE_H

#include <stdio.h>

#include "formats/error.h"
#include "formats/stacktree.h"
#include "formats/trace.h"

/* Writes t as a speedscope file, frames named as opts says (granularity, full_paths;
 * the metric, time unit and order are the writer's own).  Memory-metric profiles come
 * after the time profiles.  0, or -1 with err set (PF_EIO, PF_ENOMEM, PF_EEMPTY for a
 * trace without calls, PF_ECORRUPT). */
int pf_speedscope_write(const pf_trace *t, const pf_stack_opts *opts, FILE *out, pf_error *err);

#endif
