using System.Diagnostics;
using Orleans.AiFleet.GrainInterfaces.Inference;

namespace Orleans.AiFleet.Grains.Tests;

/// <summary>
/// Closed-loop clients sending digits samples through a router until stopped, each answer checked against ONNX
/// Runtime run directly on the shipped version-2 model; failures are kept with their time and message.
/// </summary>
internal sealed class RouterLoad : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly List<string> _failures = [];
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly Task _clients;
    private int _answered;

    public RouterLoad(IInferenceRouterGrain router, string model, int clients) =>
        _clients = Task.WhenAll(Enumerable.Range(0, clients).Select(id => Task.Run(() => ClientAsync(router, model, id))));

    public int Answered => Volatile.Read(ref _answered);

    public int Failed
    {
        get
        {
            lock (_failures)
            {
                return _failures.Count;
            }
        }
    }

    /// <summary>Stops the clients and asserts that every request was answered, and at least <paramref name="minimum"/>.</summary>
    public async Task StopAndAssertNoFailuresAsync(int minimum)
    {
        await DisposeAsync();
        Assert.True(_failures.Count == 0, $"{_failures.Count} of {_answered + _failures.Count} failed:\n{string.Join("\n", _failures.Take(5))}");
        Assert.True(_answered >= minimum, $"only {_answered} requests answered");
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _clients;
        _stop.Dispose();
    }

    private async Task ClientAsync(IInferenceRouterGrain router, string model, int id)
    {
        for (var i = 0; !_stop.IsCancellationRequested; i++)
        {
            var sample = (id + i) % Samples.DigitCount;
            try
            {
                var response = await router.InferAsync(Samples.Digit(model, sample, outputs: "logits"));
                Reference.AssertClose(Reference.Run("digits", "2", [Samples.Pixels(sample)], "logits"), response.Outputs[0].Fp32!);
                Interlocked.Increment(ref _answered);
            }
            catch (Exception e)
            {
                lock (_failures)
                {
                    _failures.Add($"{_clock.Elapsed.TotalSeconds:0.00}s {e.GetType().Name}: {e.Message}");
                }
            }
        }
    }
}
