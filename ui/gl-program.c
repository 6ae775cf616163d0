// SPDX-License-Identifier: MIT
#include <vgi/log.h>

#include "gl-program.h"

const char vgi_gl_quad_vs_es[] =
	"attribute vec2 pos;\n"
	"attribute vec2 uv;\n"
	"varying vec2 v_uv;\n"
	"void main() { v_uv = uv; gl_Position = vec4(pos, 0.0, 1.0); }\n";
const char vgi_gl_quad_fs_es[] =
	"precision mediump float;\n"
	"varying vec2 v_uv;\n"
	"uniform sampler2D tex;\n"
	"void main() { gl_FragColor = vec4(texture2D(tex, v_uv).rgb, 1.0); }\n";

static GLuint compile(GLenum type, const char *src, const char *who)
{
	GLuint sh = glCreateShader(type);
	GLint ok = 0;

	glShaderSource(sh, 1, &src, NULL);
	glCompileShader(sh);
	glGetShaderiv(sh, GL_COMPILE_STATUS, &ok);
	if (!ok) {
		char log[256] = "";

		glGetShaderInfoLog(sh, sizeof(log), NULL, log);
		vgi_error("%s: shader: %s", who, log);
		glDeleteShader(sh);
		return 0;
	}
	return sh;
}

GLuint vgi_gl_program(const char *vs_src, const char *fs_src, const char *who)
{
	GLuint vs = compile(GL_VERTEX_SHADER, vs_src, who);
	GLuint fs = compile(GL_FRAGMENT_SHADER, fs_src, who);
	GLuint prog = 0;
	GLint ok = 0;

	if (vs && fs) {
		prog = glCreateProgram();
		glAttachShader(prog, vs);
		glAttachShader(prog, fs);
		glLinkProgram(prog);
		glGetProgramiv(prog, GL_LINK_STATUS, &ok);
		if (!ok) {
			char log[256] = "";

			glGetProgramInfoLog(prog, sizeof(log), NULL, log);
			vgi_error("%s: GL link (%s): %s", who, (const char *)glGetString(GL_VERSION), log);
			glDeleteProgram(prog);
			prog = 0;
		}
	}
	if (vs)
		glDeleteShader(vs);
	if (fs)
		glDeleteShader(fs);
	return prog;
}
