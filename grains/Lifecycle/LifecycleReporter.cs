using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Orleans.AiFleet.GrainInterfaces.Lifecycle;

namespace Orleans.AiFleet.Grains.Lifecycle;

/// <summary>Every <see cref="LifecycleOptions.ReportEvery"/>, sends this silo's tallies to each model's experiments grain (one-way).</summary>
internal sealed class LifecycleReporter(
    LifecycleCollector collector, IGrainFactory grains, ILocalSiloDetails silo, IOptions<LifecycleOptions> options) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.ReportEvery);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                Flush();
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>Sends what has been gathered now (also used at shutdown and by tests).</summary>
    public void Flush()
    {
        foreach (var (model, report) in collector.Drain(silo.SiloAddress.ToString()))
        {
            try
            {
                _ = grains.GetGrain<IModelExperimentsGrain>(model).ReportAsync(report);
            }
            catch (Exception)
            {
                // The silo is stopping or not yet serving: these figures are lost, as a missed scrape would be.
            }
        }
    }

    public override Task StopAsync(CancellationToken cancellationToken)
    {
        Flush();
        return base.StopAsync(cancellationToken);
    }
}
