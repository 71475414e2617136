using System.Buffers;
using System.Diagnostics;
using Microsoft.ML.OnnxRuntime;
using Orleans.AiFleet.Grains.Hosting;

namespace Orleans.AiFleet.Grains.Replicas;

/// <summary>One ONNX Runtime run per group of a batch: its span, its inputs stacked, its outputs split, its failures isolated.</summary>
internal sealed partial class DynamicBatcher
{
    /// <summary>
    /// One span per batch run: a child of its first request's trace, linked to every request it carries (a batch
    /// serves many traces at once). Nothing is built when no one listens.
    /// </summary>
    private Activity? StartBatchSpan(List<Pending> group, int rows)
    {
        if (!AiFleetTracing.Source.HasListeners())
        {
            return null;
        }

        var links = group.Where(p => p.Trace != default).Select(p => new ActivityLink(p.Trace)).ToArray();
        var span = AiFleetTracing.Source.StartActivity("replica.batch", ActivityKind.Internal, group[0].Trace, links: links);
        span?.SetTag("aifleet.model", _session.Model);
        span?.SetTag("aifleet.version", _session.Version);
        span?.SetTag("aifleet.batch.requests", group.Count);
        span?.SetTag("aifleet.batch.rows", rows);
        return span;
    }

    private void RunGroup(List<Pending> group, bool isolateFailures)
    {
        var first = group[0].Request;
        var rows = 0;
        foreach (var p in group)
        {
            rows += p.Request.Rows;
        }

        var values = new OrtValue[first.Inputs.Length];
        var rented = new List<Action>(first.Inputs.Length);
        using var run = new BatchRun(group);
        try
        {
            for (var i = 0; i < values.Length; i++)
            {
                values[i] = group.Count == 1 ? Wrap(first.Inputs[i]) : Stack(group, i, rows, rented);
            }

            using var batchSpan = StartBatchSpan(group, rows);
            var sw = Stopwatch.StartNew();
            using (AiFleetTracing.Source.StartActivity("onnx.run"))
            using (var outputs = _session.Run(values, first.Outputs, run.Options))
            {
                sw.Stop();
                Interlocked.Increment(ref _batches);
                _metrics.Batch(_session.Model, _session.Version, rows, sw.Elapsed.TotalMilliseconds);
                Split(group, first.Outputs, outputs);
            }
        }
        catch (OnnxRuntimeException) when (run.Terminated)
        {
            Interlocked.Increment(ref _terminatedRuns);
            _metrics.TerminatedRun(_session.Model, _session.Version); // every caller already had its answer: cancelled or timed out
        }
        catch (Exception) when (isolateFailures)
        {
            foreach (var p in group)
            {
                RunGroup([p], isolateFailures: false);
            }
        }
        catch (OnnxRuntimeException)
        {
            // ONNX Runtime's message names graph nodes (/tokens/Gather): internals, not the caller's business.
            Fail(group, AiFleetException.Invalid($"model '{_session.Model}' version {_session.Version} rejected the input: its values are outside what the model accepts"), "invalid");
        }
        catch (Exception e)
        {
            Fail(group, e, "error");
        }
        finally
        {
            foreach (var v in values)
            {
                v?.Dispose();
            }

            foreach (var giveBack in rented)
            {
                giveBack();
            }
        }
    }

    private void Fail(List<Pending> group, Exception error, string outcome)
    {
        foreach (var p in group)
        {
            _metrics.Request(_session.Model, _session.Version, outcome);
            p.Completion.TrySetException(error);
        }
    }
}
