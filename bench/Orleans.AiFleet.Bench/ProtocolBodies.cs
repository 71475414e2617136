using GrpcMetadata = Grpc.Core.Metadata;
using Grpc.Net.Client;
using Orleans.AiFleet.Grpc.Inference;

namespace Orleans.AiFleet.Bench;

/// <summary>
/// The same KServe requests as JSON bodies and binary-extension bodies (for wrk) and as length-prefixed gRPC messages
/// with raw tensors (for h2load), each checked once against the running server with a client generated from the shipped proto.
/// Usage: <c>protocol-bodies &lt;folder&gt; &lt;grpc url&gt; &lt;key&gt;</c>; bench/protocols.sh runs it.
/// </summary>
internal static class ProtocolBodies
{
    /// <summary>Workloads on the shipped text encoder: one short sentence, and a batch of eight 64-token ones.</summary>
    private static readonly (string Name, int Rows, int Tokens)[] Workloads = [("encoder-1x14", 1, 14), ("encoder-8x64", 8, 64)];

    public static async Task<string> RunAsync(string[] args)
    {
        var (folder, grpc, key) = (args[1], args[2], args[3]);
        Directory.CreateDirectory(folder);
        using var channel = GrpcChannel.ForAddress(grpc);
        var client = new GRPCInferenceService.GRPCInferenceServiceClient(channel);
        var headers = new GrpcMetadata { { "authorization", $"Bearer {key}" } };
        foreach (var (name, rows, tokens) in Workloads)
        {
            var ids = new long[rows * tokens];
            for (var i = 0; i < ids.Length; i++)
            {
                ids[i] = i % tokens == 0 ? 2 : i % tokens == tokens - 1 ? 3 : 50 + (i % 40);
            }

            long[] shape = [rows, tokens];
            var w = new Workload("text-encoder", "", "sentence_embedding",
                [new BenchInput("input_ids", shape, null, ids), new BenchInput("attention_mask", shape, null, Enumerable.Repeat(1L, ids.Length).ToArray())]);
            await File.WriteAllTextAsync(Path.Combine(folder, name + ".json"), w.RequestJson);
            var (binary, headerLength) = w.RequestBinary();
            await File.WriteAllBytesAsync(Path.Combine(folder, name + ".bin"), binary);
            await File.WriteAllTextAsync(Path.Combine(folder, name + ".bin.len"), headerLength.ToString(System.Globalization.CultureInfo.InvariantCulture));
            var reply = await client.ModelInferAsync(w.RequestGrpc(), headers);
            if (reply.RawOutputContents.Count != 1 || reply.RawOutputContents[0].Length != rows * 64 * 4)
            {
                throw new InvalidOperationException($"{name}: unexpected gRPC answer {reply}");
            }

            await File.WriteAllBytesAsync(Path.Combine(folder, name + ".grpc"), w.RequestGrpcFramed());
        }

        return string.Join(' ', Workloads.Select(w => w.Name));
    }
}
