/* SPDX-License-Identifier: MIT */
#ifndef VGI_TESTS_VIRGL_CMDS_H
#define VGI_TESTS_VIRGL_CMDS_H

/* A few virgl protocol commands for tests and benchmarks (numbers from virglrenderer's virgl_protocol.h). */

#include <stdint.h>
#include <string.h>

#define VGL_CMD0(cmd, obj, len) ((uint32_t)(cmd) | ((uint32_t)(obj) << 8) | ((uint32_t)(len) << 16))
#define VGL_CCMD_CREATE_OBJECT 1
#define VGL_CCMD_DESTROY_OBJECT 3
#define VGL_CCMD_SET_VIEWPORT_STATE 4
#define VGL_CCMD_SET_FRAMEBUFFER_STATE 5
#define VGL_CCMD_CLEAR 7
#define VGL_OBJECT_SURFACE 8
#define VGL_PIPE_CLEAR_COLOR0 (1u << 2)
#define VGL_FMT_B8G8R8X8 2
#define VGL_BIND_RENDER_TARGET (1u << 1)
#define VGL_BIND_SAMPLER_VIEW (1u << 3)
#define VGL_BIND_SCANOUT (1u << 18)

/* Create surface `surf` on resource `res`, bind it as the framebuffer, clear it; destroy the surface. */
static inline uint32_t vgl_clear_cmds(uint32_t *cs, uint32_t res, uint32_t surf, float r, float g, float b)
{
	uint32_t n = 0;
	float color[4] = { r, g, b, 1.0f };
	cs[n++] = VGL_CMD0(VGL_CCMD_CREATE_OBJECT, VGL_OBJECT_SURFACE, 5);
	cs[n++] = surf;
	cs[n++] = res;
	cs[n++] = VGL_FMT_B8G8R8X8;
	cs[n++] = 0;
	cs[n++] = 0;
	cs[n++] = VGL_CMD0(VGL_CCMD_SET_FRAMEBUFFER_STATE, 0, 3);
	cs[n++] = 1;
	cs[n++] = 0;
	cs[n++] = surf;
	cs[n++] = VGL_CMD0(VGL_CCMD_CLEAR, 0, 8);
	cs[n++] = VGL_PIPE_CLEAR_COLOR0;
	memcpy(&cs[n], color, sizeof(color));
	n += 4;
	cs[n++] = 0;
	cs[n++] = 0;
	cs[n++] = 0;
	cs[n++] = VGL_CMD0(VGL_CCMD_DESTROY_OBJECT, VGL_OBJECT_SURFACE, 1);
	cs[n++] = surf;
	return n;
}

#endif
