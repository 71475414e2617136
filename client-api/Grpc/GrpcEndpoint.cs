using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Orleans.AiFleet.ClientApi.Failures;
using Orleans.AiFleet.ClientApi.Hosting;

namespace Orleans.AiFleet.ClientApi.Grpc;

/// <summary>
/// KServe v2 over gRPC on its own port (<c>AiFleet:Grpc:Port</c>; unset or 0: off), plaintext HTTP/2 beside the
/// HTTP/1.1 port. Kestrel serves h2c only on a listener that speaks HTTP/2 alone, so when the gRPC port is set both
/// listeners are declared here: the addresses of <c>urls</c> for HTTP, and the gRPC port on the first one's host.
/// </summary>
internal static class GrpcEndpoint
{
    public const string PortKey = "AiFleet:Grpc:Port";

    /// <summary>The largest gRPC message read: a 32-row batch of 512-token inputs is well under it.</summary>
    public const int MaxMessageBytes = 16 * 1024 * 1024;

    public static WebApplicationBuilder AddAiFleetGrpc(this WebApplicationBuilder builder)
    {
        builder.Services.AddGrpc(o =>
        {
            o.Interceptors.Add<GrpcFailures>();
            o.MaxReceiveMessageSize = MaxMessageBytes;
        });
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            var configuration = kestrel.ApplicationServices.GetRequiredService<IConfiguration>();
            var port = configuration.GetValue<int?>(PortKey) ?? 0;
            if (port <= 0)
            {
                return;
            }

            var urls = ListenUrls.Of(configuration);
            foreach (var url in urls)
            {
                var address = BindingAddress.Parse(url);
                Listen(kestrel, address.Host, address.Port, HttpProtocols.Http1AndHttp2);
            }

            Listen(kestrel, BindingAddress.Parse(urls[0]).Host, port, HttpProtocols.Http2);
        });
        return builder;
    }

    public static WebApplication MapAiFleetGrpc(this WebApplication app)
    {
        if (app.Configuration.GetValue<int?>(PortKey) is > 0 and var port)
        {
            app.MapGrpcService<KServeGrpcService>().RequireHost($"*:{port}").LimitBody(MaxMessageBytes);
        }

        return app;
    }

    private static void Listen(KestrelServerOptions kestrel, string host, int port, HttpProtocols protocols)
    {
        Action<ListenOptions> configure = o => o.Protocols = protocols;
        if (host is "localhost")
        {
            kestrel.ListenLocalhost(port, configure);
        }
        else if (host is "*" or "+" || !IPAddress.TryParse(host.Trim('[', ']'), out var ip))
        {
            kestrel.ListenAnyIP(port, configure);
        }
        else
        {
            kestrel.Listen(ip, port, configure);
        }
    }
}
