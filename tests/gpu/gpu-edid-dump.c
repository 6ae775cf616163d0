// SPDX-License-Identifier: MIT
/* Writes the EDID the device generates for one WxH output to stdout (for edid-decode --check). */
#include <stdio.h>
#include <stdlib.h>

#include <vgi/gpu.h>

int main(int argc, char **argv)
{
	struct vgi_gpu_config cfg;
	struct vgi_gpu *gpu;
	uint8_t edid[1024];
	uint32_t size = sizeof(edid);

	if (argc != 3) {
		fprintf(stderr, "usage: gpu-edid-dump WIDTH HEIGHT\n");
		return 2;
	}
	vgi_gpu_config_init(&cfg);
	cfg.outputs[0].width = (uint32_t)strtoul(argv[1], NULL, 0);
	cfg.outputs[0].height = (uint32_t)strtoul(argv[2], NULL, 0);
	gpu = vgi_gpu_new(&cfg);
	if (!gpu || vgi_gpu_get_edid(gpu, 0, edid, &size) < 0) {
		fprintf(stderr, "gpu-edid-dump: no EDID for %sx%s\n", argv[1], argv[2]);
		vgi_gpu_free(gpu);
		return 1;
	}
	fwrite(edid, 1, size, stdout);
	vgi_gpu_free(gpu);
	return 0;
}
