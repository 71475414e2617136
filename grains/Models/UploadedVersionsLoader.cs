using Microsoft.Extensions.Logging;

namespace Orleans.AiFleet.Grains.Models;

/// <summary>
/// At silo start, before grains run, loads every uploaded version from the store into this silo's repository, so
/// after a full restart uploaded versions serve like shipped ones. With the store unreachable the silo still starts;
/// versions are then fetched when first asked for.
/// </summary>
internal sealed partial class UploadedVersionsLoader(ModelRepository repository, ILogger<UploadedVersionsLoader> logger)
    : ILifecycleParticipant<ISiloLifecycle>
{
    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(UploadedVersionsLoader), ServiceLifecycleStage.ApplicationServices, LoadAsync);

    private async Task LoadAsync(CancellationToken cancellationToken)
    {
        try
        {
            await repository.LoadUploadedAsync(cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogLoadFailed(logger, e);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Uploaded model versions could not be loaded from the store at start; they will be fetched when first asked for")]
    private static partial void LogLoadFailed(ILogger logger, Exception error);
}
