/* SPDX-License-Identifier: MIT */
#ifndef VGI_UI_GL_PROGRAM_H
#define VGI_UI_GL_PROGRAM_H

/* What the GL paths of the SDL and GTK sinks share: one textured quad program. */

#include <epoxy/gl.h>

/* GLSL ES 1.00 (GLES 2) sources: attributes pos and uv, uniform sampler tex. */
extern const char vgi_gl_quad_vs_es[];
extern const char vgi_gl_quad_fs_es[];

/* Compile and link; 0 on failure, with the GL log prefixed by who. The shaders are not kept. */
GLuint vgi_gl_program(const char *vs_src, const char *fs_src, const char *who);

#endif
