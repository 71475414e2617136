using System.Globalization;
using Grpc.Core;
using GrpcMetadata = Grpc.Core.Metadata;
using Grpc.Core.Interceptors;
using Orleans.AiFleet.ClientApi.Failures;

namespace Orleans.AiFleet.ClientApi.Grpc;

/// <summary>
/// The gRPC routes' error shape: every failure, classified once (<see cref="FailureClassifier"/>), becomes a status
/// code with the message naming the problem, and trailers with the stable code (<c>aifleet-code</c>), the field at
/// fault and, for a limit or trouble, <c>retry-after</c> in seconds. A defect is INTERNAL and says nothing of its
/// insides (it is logged); a caller who hung up is CANCELLED.
/// </summary>
internal sealed partial class GrpcFailures(ILogger<GrpcFailures> logger) : Interceptor
{
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(request, context);
        }
        catch (RpcException)
        {
            throw;
        }
        catch (OperationCanceledException) when (context.CancellationToken.IsCancellationRequested)
        {
            throw new RpcException(new Status(StatusCode.Cancelled, "the caller went away"));
        }
        catch (Exception e)
        {
            var failure = FailureClassifier.Classify(e);
            if (failure is null)
            {
                LogDefect(logger, e, context.Method);
                throw new RpcException(new Status(StatusCode.Internal, "the server failed to handle this request (a defect, logged)"));
            }

            var trailers = new GrpcMetadata { { "aifleet-code", failure.Code } };
            if (failure.Field is { } field)
            {
                trailers.Add("aifleet-field", field);
            }

            if (failure is { Kind: FailureKind.RateLimited or FailureKind.Unavailable })
            {
                var after = failure.RetryAfter ?? TimeSpan.FromSeconds(1);
                trailers.Add("retry-after", Math.Max(1, (int)Math.Ceiling(after.TotalSeconds)).ToString(CultureInfo.InvariantCulture));
            }

            throw new RpcException(new Status(CodeOf(failure.Kind), FailureRenderer.MessageOf(failure)), trailers);
        }
    }

    public static StatusCode CodeOf(FailureKind kind) => kind switch
    {
        FailureKind.InvalidArgument => StatusCode.InvalidArgument,
        FailureKind.Unauthorized => StatusCode.Unauthenticated,
        FailureKind.Forbidden => StatusCode.PermissionDenied,
        FailureKind.NotFound => StatusCode.NotFound,
        FailureKind.Conflict => StatusCode.FailedPrecondition,
        FailureKind.PayloadTooLarge or FailureKind.RateLimited => StatusCode.ResourceExhausted,
        FailureKind.Unavailable => StatusCode.Unavailable,
        FailureKind.Timeout => StatusCode.DeadlineExceeded,
        _ => StatusCode.Internal,
    };

    [LoggerMessage(Level = LogLevel.Error, Message = "Unhandled failure in gRPC call {Method}")]
    private static partial void LogDefect(ILogger logger, Exception error, string method);
}
